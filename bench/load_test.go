package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstate/chatstate/client"
	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
)

// fakeAPI serves the part of the API the loader writes to, and records
// what each chat went through, so that a test can compare it with the
// dataset's plan. It assigns chat ids per account in arrival order, as
// the server does.
type fakeAPI struct {
	mu        sync.Mutex
	accounts  map[string]bool
	operators map[string]bool // account/operator
	nextChat  map[string]int64
	chats     map[string][]string // account/id -> steps
	keyed     int                 // writes that carried an Idempotency-Key
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{accounts: map[string]bool{}, operators: map[string]bool{}, nextChat: map[string]int64{}, chats: map[string][]string{}}
}

const fakeTime = "2026-01-01T00:00:00.000Z"

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Idempotency-Key") != "" {
		f.keyed++
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/accounts/"), "/")
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"field":null}}`, code, r.URL.Path)
	}
	reply := func(status int, v string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, v)
	}
	chatJSON := func(id int64) string {
		return fmt.Sprintf(`{"id":%d,"status":"active","contact":{"type":"visitor"},"source":"email","assignee":null,"participants":[],"unread":true,"created_at":%q,"last_activity_at":%q,"waiting_since":null,"first_reply_at":null,"closed_at":null,"closed_by":null,"message_count":1,"last_message":null}`, id, fakeTime, fakeTime)
	}
	acct := parts[0]
	switch {
	case len(parts) == 1 && r.Method == http.MethodPut:
		f.accounts[acct] = true
		reply(201, fmt.Sprintf(`{"id":%q,"name":"x","created_at":%q}`, acct, fakeTime))
		return
	case !f.accounts[acct]:
		fail(404, "not_found")
		return
	case len(parts) == 3 && parts[1] == "operators" && r.Method == http.MethodPut:
		f.operators[acct+"/"+parts[2]] = true
		reply(201, fmt.Sprintf(`{"id":%q,"name":"x","email":null,"created_at":%q}`, parts[2], fakeTime))
		return
	case len(parts) == 2 && parts[1] == "chats" && r.Method == http.MethodPost:
		f.nextChat[acct]++
		id := f.nextChat[acct]
		f.chats[acct+"/"+strconv.FormatInt(id, 10)] = []string{"create " + body["text"].(string)}
		reply(201, chatJSON(id))
		return
	case len(parts) == 4 && parts[1] == "chats" && r.Method == http.MethodPost:
		key := acct + "/" + parts[2]
		steps, ok := f.chats[key]
		if !ok {
			fail(404, "not_found")
			return
		}
		op, _ := body["operator"].(string)
		if a, ok := body["author"].(map[string]any); ok {
			op, _ = a["id"].(string)
		}
		if by, ok := body["by"].(string); ok {
			op = by
		}
		if op != "" && !f.operators[acct+"/"+op] {
			fail(404, "not_found") // an operator used before it was created
			return
		}
		step := parts[3] + " " + op
		if text, ok := body["text"].(string); ok {
			step += " " + text
		}
		f.chats[key] = append(steps, step)
		if parts[3] == "messages" {
			reply(201, `{"message":{"seq":2,"author":{"type":"customer"},"text":"x","at":"`+fakeTime+`"},"chat":`+chatJSON(1)+`}`)
			return
		}
		reply(200, chatJSON(1))
		return
	}
	fail(404, "not_found")
}

// planned returns each chat's steps as the dataset plans them, in the
// fake's notation.
func planned(t *testing.T, cfg dataset.Config) (chats []string, stats dataset.Stats) {
	t.Helper()
	next := map[string]int64{}
	byChat := map[string][]string{}
	var order []string
	stats, err := dataset.Generate(cfg, func(cmd fsm.Command) error {
		acct := cmd.Head().Account
		var key, step string
		switch c := cmd.(type) {
		case *fsm.CreateChat:
			next[acct]++
			key, step = fmt.Sprintf("%s/%d", acct, next[acct]), "create "+c.Text
			order = append(order, key)
		case *fsm.CustomerMessage:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "messages  "+c.Text
		case *fsm.OperatorMessage:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "messages "+c.Operator+" "+c.Text
		case *fsm.Join:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "join "+c.Operator
		case *fsm.Leave:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "leave "+c.Operator
		case *fsm.MarkRead:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "read "+c.Operator
		case *fsm.MarkUnread:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "unread "+c.Operator
		case *fsm.Close:
			key, step = fmt.Sprintf("%s/%d", acct, c.Chat), "close "+c.Operator
		default:
			return nil
		}
		byChat[key] = append(byChat[key], step)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range order {
		chats = append(chats, strings.Split(k, "/")[0]+": "+strings.Join(byChat[k], " | "))
	}
	return chats, stats
}

// TestLoadWritesEveryChatsHistoryInOrder loads a small dataset into a
// fake server with many concurrent clients and checks that every chat
// went through exactly the steps the dataset planned for it, in order,
// under whatever id the server gave it.
func TestLoadWritesEveryChatsHistoryInOrder(t *testing.T) {
	fake := newFakeAPI()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := client.New(client.Config{Addrs: []string{strings.TrimPrefix(srv.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One account of 200 chats: small enough for -race, and its chats are
	// created concurrently, so the server's ids differ from the plan's.
	cfg := dataset.Standard().WithScale(0.001)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prog := new(LoadProgress)
	res, err := Load(ctx, c, cfg, 32, prog)
	if err != nil {
		t.Fatal(err)
	}
	want, stats := planned(t, cfg)
	if res.Commands != stats.Commands || res.Chats != stats.Chats || prog.Commands.Load() != int64(stats.Commands) || prog.Chats.Load() != int64(stats.Chats) {
		t.Fatalf("result %+v, progress %d/%d, dataset %d commands %d chats", res, prog.Commands.Load(), prog.Chats.Load(), stats.Commands, stats.Chats)
	}
	var got []string
	for key, steps := range fake.chats {
		got = append(got, strings.Split(key, "/")[0]+": "+strings.Join(steps, " | "))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%d chats loaded, %d planned; first difference:\n got %s\nwant %s", len(got), len(want), got[i], want[i])
			}
		}
		t.Fatalf("%d chats loaded, %d planned", len(got), len(want))
	}
	if fake.keyed != 0 {
		t.Errorf("%d load writes carried an Idempotency-Key", fake.keyed)
	}
}

func TestLoadStopsAtTheFirstFailedWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(409)
		fmt.Fprint(w, `{"error":{"code":"chat_closed","message":"no","field":null}}`)
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Addrs: []string{strings.TrimPrefix(srv.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = Load(context.Background(), c, dataset.Standard().WithScale(0.01), 8, nil)
	if err == nil || !strings.Contains(err.Error(), "chat_closed") {
		t.Fatalf("Load over a failing server: %v", err)
	}
}
