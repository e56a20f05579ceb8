package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// testLogger sends a server's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer starts a single-node chatstated on loopback ports with its
// data in dir, and waits until it serves leader reads.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	opts, err := parseOptions([]string{"--id", "n1", "--data", dir, "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := start(context.Background(), opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.node.WaitLeader(ctx); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	for s.node.LeaderRead(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("the leader never became ready for reads")
		case <-s.node.Changes():
		}
	}
	return s
}

// curlCommand is one curl invocation of the README, reduced to what a test
// needs to send the same request.
type curlCommand struct {
	line   string
	method string
	url    string
	body   string
	stream bool
}

// readmeWalkthrough returns the curl commands between the README's
// walkthrough markers.
func readmeWalkthrough(t *testing.T) []curlCommand {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- walkthrough:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no walkthrough markers")
	}
	var cmds []curlCommand
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		cmds = append(cmds, parseCurl(t, line))
	}
	if len(cmds) < 10 {
		t.Fatalf("found only %d curl commands in the walkthrough", len(cmds))
	}
	return cmds
}

// parseCurl understands the curl options the README uses: -s, -N, -X,
// --json, with single-quoted arguments.
func parseCurl(t *testing.T, line string) curlCommand {
	t.Helper()
	args := shellWords(t, line)[1:]
	c := curlCommand{line: line, method: "GET"}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s":
		case a == "-N" || a == "-sN":
			c.stream = true
		case a == "-X":
			i++
			c.method = args[i]
		case a == "--json":
			i++
			c.body = args[i]
			if c.method == "GET" {
				c.method = "POST"
			}
		case strings.HasPrefix(a, "-"):
			t.Fatalf("README curl option %q is not understood by the test: %s", a, line)
		default:
			c.url = a
		}
	}
	if c.url == "" {
		t.Fatalf("no URL in %s", line)
	}
	return c
}

func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			inQuote = !inQuote
			inWord = true
		case r == ' ' && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %s", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// do sends c to the server at addr, the way curl would.
func do(t *testing.T, addr string, c curlCommand) (int, []byte) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + strings.Replace(c.url, "localhost:8080", addr, 1))
	req.Header.SetMethod(c.method)
	if c.body != "" {
		req.Header.SetContentType("application/json")
		req.Header.Set("Accept", "application/json")
		req.SetBodyString(c.body)
	}
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s: %v", c.line, err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...)
}

// readEvents reads the event stream of c until it has n events. It uses
// net/http, whose response body can be closed mid-stream.
func readEvents(t *testing.T, addr string, c curlCommand, n int) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+strings.Replace(c.url, "localhost:8080", addr, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.line, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", c.line, resp.StatusCode)
	}
	var events []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(events) < n && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev map[string]any
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event data is not JSON: %v: %s", err, data)
			}
			events = append(events, ev)
		}
	}
	if len(events) < n {
		t.Fatalf("%s: got %d events, want %d (%v)", c.line, len(events), n, sc.Err())
	}
	return events
}

// TestReadmeWalkthrough sends every request of the README's operators' day
// to a real node and checks what the README says about each.
func TestReadmeWalkthrough(t *testing.T) {
	s := startServer(t, t.TempDir())
	defer s.shutdown(10 * time.Second)
	addr := s.Addr()

	bodies := map[string]string{} // by the command's line
	for _, c := range readmeWalkthrough(t) {
		if c.stream {
			// The account upsert emits no event; everything after it does,
			// in commit order (API.md, "What each write emits").
			want := []string{
				"operator.upserted", "operator.upserted",
				"chat.created", "message.created",
				"chat.assigned", "message.created",
				"chat.joined", "message.created", "notification.created",
				"message.created",
				"chat.left", "message.created", "notification.created",
				"chat.unread",
				"chat.closed", "message.created",
			}
			var got []string
			for i, ev := range readEvents(t, addr, c, len(want)) {
				got = append(got, fmt.Sprint(ev["type"]))
				if seq, _ := ev["seq"].(float64); int(seq) != i+1 {
					t.Errorf("event %d has seq %v", i, ev["seq"])
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("events:\n got %v\nwant %v", got, want)
			}
			continue
		}
		status, body := do(t, addr, c)
		if status < 200 || status > 299 {
			t.Fatalf("%s\n-> %d %s", c.line, status, body)
		}
		bodies[c.line] = string(body)
	}

	// What the README's comments promise.
	find := func(substr string) string {
		for line, body := range bodies {
			if strings.Contains(line, substr) {
				return body
			}
		}
		t.Fatalf("no walkthrough command contains %q", substr)
		return ""
	}
	checks := []struct{ command, want string }{
		{`"source": "landing_page"`, `"status":"active"`},
		{`"source": "landing_page"`, `"assignee":null`},
		{`"source": "landing_page"`, `"unread":true`},
		{"operators/ann/notifications", `"type":"operator_joined"`},
		{"chats?status=active&operator=ann", `"id":1`},
		{"chats?status=closed&contact_type=visitor", `"id":1`},
		{"chats?status=closed&source=landing_page", `"id":1`},
		{"chats?status=closed&operator=ann", `"id":1`},
		{"counts?status=closed", `"all":1`},
	}
	for _, c := range checks {
		if c.want == "" {
			continue
		}
		if body := find(c.command); !strings.Contains(body, c.want) {
			t.Errorf("%s: body lacks %s:\n%s", c.command, c.want, body)
		}
	}
	// The unassigned queue was asked twice: before Ann's reply (the chat
	// waits there) and after (empty).
	var queues []string
	for _, c := range readmeWalkthrough(t) {
		if strings.Contains(c.url, "operator=unassigned") {
			_, body := do(t, addr, c)
			queues = append(queues, string(body))
		}
	}
	if len(queues) != 2 || !strings.Contains(queues[1], `"chats":[]`) {
		t.Errorf("the unassigned queue should end empty: %q", queues)
	}
}

// TestRestartKeepsEverything stops a node gracefully and starts it again
// on the same data: every write is still there.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	writes := []curlCommand{
		{method: "PUT", url: "localhost:8080/v1/accounts/acme", body: `{"name": "Acme"}`},
		{method: "PUT", url: "localhost:8080/v1/accounts/acme/operators/ann", body: `{"name": "Ann"}`},
		{method: "POST", url: "localhost:8080/v1/accounts/acme/chats", body: `{"contact": {"type": "contact", "id": "c1"}, "source": "email", "text": "Hello"}`},
		{method: "POST", url: "localhost:8080/v1/accounts/acme/chats/1/messages", body: `{"author": {"type": "operator", "id": "ann"}, "text": "Hi!"}`},
		{method: "POST", url: "localhost:8080/v1/accounts/acme/chats/1/close", body: `{"operator": "ann"}`},
	}
	for _, c := range writes {
		c.line = c.method + " " + c.url
		if status, body := do(t, s.Addr(), c); status >= 300 {
			t.Fatalf("%s -> %d %s", c.line, status, body)
		}
	}
	get := curlCommand{line: "GET chat 1", method: "GET", url: "localhost:8080/v1/accounts/acme/chats/1"}
	_, before := do(t, s.Addr(), get)
	if err := s.shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, dir)
	defer s.shutdown(10 * time.Second)
	status, after := do(t, s.Addr(), get)
	if status != 200 || string(after) != string(before) {
		t.Fatalf("after restart: %d %s\nbefore: %s", status, after, before)
	}
}
