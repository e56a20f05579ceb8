package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id    string
	event string
	data  map[string]any
}

// sseClient reads an event stream in the background.
type sseClient struct {
	status int
	header http.Header
	events chan sseEvent
	pings  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	body   []byte // the error body when status is not 200
}

func (ts *testServer) stream(t testing.TB, path string, headers hdr) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// A client without the overall timeout: streams last.
	client := &http.Client{Transport: &http.Transport{}}
	res, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	c := &sseClient{status: res.StatusCode, header: res.Header, events: make(chan sseEvent, 1000),
		pings: make(chan struct{}, 1000), cancel: cancel, done: make(chan struct{})}
	if res.StatusCode != 200 {
		c.body, _ = readAllClose(res)
		close(c.done)
		cancel()
		return c
	}
	go func() {
		defer close(c.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case line == ": ping":
				select {
				case c.pings <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				d := json.NewDecoder(strings.NewReader(line[6:]))
				d.UseNumber()
				if err := d.Decode(&ev.data); err != nil {
					// A line cut short when the stream is closed.
					return
				}
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func readAllClose(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(res.Body)
	return b.Bytes(), err
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

// next waits for the next event.
func (c *sseClient) next(t testing.TB) sseEvent {
	t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	return sseEvent{}
}

// take waits for n events and returns their types.
func (c *sseClient) take(t testing.TB, n int) ([]string, []sseEvent) {
	t.Helper()
	var types []string
	var evs []sseEvent
	for i := 0; i < n; i++ {
		ev := c.next(t)
		types = append(types, ev.event)
		evs = append(evs, ev)
	}
	return types, evs
}

// quiet checks that no event arrives within d.
func (c *sseClient) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case ev := <-c.events:
		t.Fatalf("unexpected event %s %v", ev.event, ev.data)
	case <-time.After(d):
	}
}

// TestOperatorsDay walks through a day of support work over HTTP and checks
// the chats, lists, counts, notifications, transcript and events it leaves.
func TestOperatorsDay(t *testing.T) {
	ts := startServer(t, nil)
	const a = "/v1/accounts/acme"

	acct := ts.must(t, 201, "PUT", a, map[string]any{"name": "Acme"})
	if acct["id"] != "acme" || acct["name"] != "Acme" || !isTime(acct["created_at"]) {
		t.Fatalf("account: %v", acct)
	}
	if r := ts.must(t, 200, "PUT", a, map[string]any{"name": "Acme Inc"}); r["name"] != "Acme Inc" {
		t.Fatalf("renamed account: %v", r)
	}
	all := ts.stream(t, a+"/events", nil)
	if all.status != 200 || !strings.HasPrefix(all.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %v", all.status, all.header)
	}
	// A stream of the unassigned list, and one of ann's notifications.
	unassigned := ts.stream(t, a+"/events?status=active&operator=unassigned&types=chat.created,chat.assigned,chat.closed", nil)
	annInbox := ts.stream(t, a+"/events?types=notification.created&recipient=ann", nil)

	ann := ts.must(t, 201, "PUT", a+"/operators/ann", map[string]any{"name": "Ann"})
	if ann["email"] != nil || ann["id"] != "ann" {
		t.Fatalf("operator: %v", ann)
	}
	ts.must(t, 201, "PUT", a+"/operators/bob", map[string]any{"name": "Bob", "email": "bob@example.com"})
	if r := ts.must(t, 200, "PUT", a+"/operators/bob", map[string]any{"name": "Bobby", "email": "bob@example.com"}); r["name"] != "Bobby" {
		t.Fatalf("updated operator: %v", r)
	}

	// An incoming chat.
	chat := ts.must(t, 201, "POST", a+"/chats", map[string]any{
		"contact": map[string]any{"type": "visitor", "name": "Jane"}, "source": "landing_page", "text": "Hi"})
	if num(t, chat["id"]) != 1 || chat["status"] != "active" || chat["assignee"] != nil || chat["unread"] != true ||
		num(t, chat["message_count"]) != 1 || !isTime(chat["waiting_since"]) || chat["first_reply_at"] != nil ||
		chat["closed_at"] != nil || chat["closed_by"] != nil || len(chat["participants"].([]any)) != 0 {
		t.Fatalf("new chat: %v", chat)
	}
	contact := chat["contact"].(map[string]any)
	if contact["type"] != "visitor" || contact["name"] != "Jane" || contact["id"] != nil || contact["email"] != nil {
		t.Fatalf("contact: %v", contact)
	}
	last := chat["last_message"].(map[string]any)
	if last["text"] != "Hi" || last["author"].(map[string]any)["type"] != "customer" || num(t, last["seq"]) != 1 {
		t.Fatalf("last message: %v", last)
	}

	// Ann replies and so takes the chat.
	reply := ts.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{
		"author": map[string]any{"type": "operator", "id": "ann"}, "text": "Hello, how can I help?"})
	chat = reply["chat"].(map[string]any)
	if chat["assignee"] != "ann" || chat["unread"] != false || chat["waiting_since"] != nil || !isTime(chat["first_reply_at"]) {
		t.Fatalf("after reply: %v", chat)
	}
	msg := reply["message"].(map[string]any)
	if !reflect.DeepEqual(msg["author"], map[string]any{"type": "operator", "id": "ann"}) || num(t, msg["seq"]) != 2 {
		t.Fatalf("reply: %v", msg)
	}

	// Bob joins: Ann's inbox shows it.
	chat = ts.must(t, 200, "POST", a+"/chats/1/join", map[string]any{"operator": "bob"})
	if !reflect.DeepEqual(chat["participants"], []any{"bob"}) {
		t.Fatalf("after join: %v", chat)
	}
	inbox := ts.must(t, 200, "GET", a+"/operators/ann/notifications", nil)
	notes := inbox["notifications"].([]any)
	if len(notes) != 1 || num(t, inbox["unread_count"]) != 1 || inbox["next_after"] != nil {
		t.Fatalf("ann's inbox: %v", inbox)
	}
	n := notes[0].(map[string]any)
	if n["type"] != "operator_joined" || n["operator"] != "bob" || n["recipient"] != "ann" || num(t, n["chat_id"]) != 1 || n["read"] != false || !isTime(n["at"]) {
		t.Fatalf("notification: %v", n)
	}
	// The customer writes; assignee and participant are notified.
	ts.must(t, 201, "POST", a+"/chats/1/messages", map[string]any{"author": map[string]any{"type": "customer"}, "text": "My order is late"})
	bobInbox := ts.must(t, 200, "GET", a+"/operators/bob/notifications", nil)
	if l := bobInbox["notifications"].([]any); len(l) != 1 || l[0].(map[string]any)["type"] != "new_message" || l[0].(map[string]any)["operator"] != nil {
		t.Fatalf("bob's inbox: %v", bobInbox)
	}
	// Bob leaves, Ann marks it unread for later.
	chat = ts.must(t, 200, "POST", a+"/chats/1/leave", map[string]any{"operator": "bob"})
	if len(chat["participants"].([]any)) != 0 {
		t.Fatalf("after leave: %v", chat)
	}
	ts.must(t, 200, "POST", a+"/chats/1/read", map[string]any{"operator": "ann"})
	chat = ts.must(t, 200, "POST", a+"/chats/1/unread", map[string]any{"operator": "ann"})
	if chat["unread"] != true {
		t.Fatalf("after unread: %v", chat)
	}

	// A second incoming chat stays unassigned.
	ts.must(t, 201, "POST", a+"/chats", map[string]any{
		"contact": map[string]any{"type": "contact", "id": "c-7", "name": "Carl", "email": "carl@example.com"}, "source": "email", "text": "Invoice?"})
	listIDs := func(query string) []int64 {
		t.Helper()
		r := ts.must(t, 200, "GET", a+"/chats"+query, nil)
		if _, ok := r["next_cursor"]; !ok {
			t.Fatalf("no next_cursor in %v", r)
		}
		return ids(t, r["chats"])
	}
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{2, 1}},
		{"?operator=unassigned", []int64{2}},
		{"?operator=ann", []int64{1}},
		{"?operator=bob", []int64{}},
		{"?unread=true", []int64{2, 1}},
		{"?contact_type=contact", []int64{2}},
		{"?source=landing_page", []int64{1}},
		{"?status=closed", []int64{}},
	} {
		if got := listIDs(c.query); !reflect.DeepEqual(got, c.want) {
			t.Errorf("active list %q: %v, want %v", c.query, got, c.want)
		}
	}
	counts := ts.must(t, 200, "GET", a+"/chats/counts", nil)
	wantCounts := map[string]any{
		"status": "active", "all": json.Number("2"), "unassigned": json.Number("1"), "unread": json.Number("2"),
		"operators":     map[string]any{"ann": json.Number("1"), "bob": json.Number("0")},
		"contact_types": map[string]any{"contact": json.Number("1"), "visitor": json.Number("1")},
		"sources":       map[string]any{"email": json.Number("1"), "landing_page": json.Number("1"), "chat_page": json.Number("0"), "external_page": json.Number("0")},
	}
	if !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("counts: %v\nwant %v", counts, wantCounts)
	}

	// Ann closes her chat.
	chat = ts.must(t, 200, "POST", a+"/chats/1/close", map[string]any{"operator": "ann"})
	if chat["status"] != "closed" || chat["closed_by"] != "ann" || !isTime(chat["closed_at"]) || chat["unread"] != false || chat["assignee"] != "ann" {
		t.Fatalf("after close: %v", chat)
	}
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"?status=closed", []int64{1}},
		{"?status=closed&contact_type=visitor", []int64{1}},
		{"?status=closed&contact_type=contact", []int64{}},
		{"?status=closed&source=landing_page", []int64{1}},
		{"?status=closed&source=email", []int64{}},
		{"?status=closed&operator=ann", []int64{1}},
		{"?status=closed&operator=bob", []int64{}},
		{"?operator=ann", []int64{}},
	} {
		if got := listIDs(c.query); !reflect.DeepEqual(got, c.want) {
			t.Errorf("list %q: %v, want %v", c.query, got, c.want)
		}
	}
	closed := ts.must(t, 200, "GET", a+"/chats/counts?status=closed", nil)
	if closed["status"] != "closed" || num(t, closed["all"]) != 1 || num(t, closed["operators"].(map[string]any)["ann"]) != 1 {
		t.Errorf("closed counts: %v", closed)
	}

	// The transcript.
	page := ts.must(t, 200, "GET", a+"/chats/1/messages", nil)
	var kinds []string
	for _, m := range page["messages"].([]any) {
		m := m.(map[string]any)
		k := m["author"].(map[string]any)["type"].(string)
		if k == "system" {
			k += ":" + m["event"].(string)
		}
		kinds = append(kinds, k)
	}
	wantKinds := []string{"customer", "operator", "system:operator_joined", "customer", "system:operator_left", "system:closed"}
	if !reflect.DeepEqual(kinds, wantKinds) || page["next_after"] != nil {
		t.Errorf("transcript: %v, want %v (next_after %v)", kinds, wantKinds, page["next_after"])
	}
	page = ts.must(t, 200, "GET", a+"/chats/1/messages?after=1&limit=2", nil)
	if got := page["messages"].([]any); len(got) != 2 || num(t, got[0].(map[string]any)["seq"]) != 2 || num(t, page["next_after"]) != 3 {
		t.Errorf("messages page: %v", page)
	}

	// Ann reads her inbox.
	r := ts.must(t, 200, "POST", a+"/operators/ann/notifications/read", map[string]any{"up_to": 1000})
	if num(t, r["unread_count"]) != 0 {
		t.Errorf("after read: %v", r)
	}

	// Bob is removed.
	del := ts.do(t, "DELETE", a+"/operators/bob", nil, nil)
	if del.status != 204 || del.header.Get("X-Index") == "" || len(del.body) != 0 {
		t.Fatalf("delete operator: %d %v %q", del.status, del.header, del.body)
	}
	ops := ts.must(t, 200, "GET", a+"/operators", nil)["operators"].([]any)
	if len(ops) != 1 || ops[0].(map[string]any)["id"] != "ann" || num(t, ops[0].(map[string]any)["active_chats"]) != 0 {
		t.Errorf("operators: %v", ops)
	}

	// The full stream saw every write, in order, numbered from 1.
	types, evs := all.take(t, 22)
	want := []string{
		"operator.upserted", "operator.upserted", "operator.upserted",
		"chat.created", "message.created",
		"chat.assigned", "message.created",
		"chat.joined", "message.created", "notification.created",
		"message.created", "notification.created", "notification.created",
		"chat.left", "message.created", "notification.created",
		"chat.read", "chat.unread",
		"chat.created", "message.created",
		"chat.closed", "message.created",
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events:\n%v\nwant\n%v", types, want)
	}
	for i, ev := range evs {
		if ev.id != ev.data["seq"].(json.Number).String() || num(t, ev.data["seq"]) != int64(i+1) || ev.data["type"] != ev.event || !isTime(ev.data["at"]) {
			t.Errorf("event %d: id %s data %v", i, ev.id, ev.data)
		}
	}
	if evs[3].data["chat"] == nil || evs[4].data["message"] == nil || evs[4].data["chat"] == nil || evs[0].data["operator"] == nil || evs[9].data["notification"] == nil {
		t.Errorf("event records missing: %v %v %v", evs[3].data, evs[4].data, evs[9].data)
	}
	if _, ok := evs[3].data["matches"]; ok {
		t.Errorf("unfiltered stream with matches: %v", evs[3].data)
	}
	types, _ = all.take(t, 1)
	if types[0] != "operator.removed" {
		t.Errorf("after removal: %v", types)
	}

	// The unassigned stream: created (matches), assigned (left the list),
	// the second chat; not the close of an assigned chat.
	types, evs = unassigned.take(t, 3)
	if !reflect.DeepEqual(types, []string{"chat.created", "chat.assigned", "chat.created"}) {
		t.Errorf("unassigned stream: %v", types)
	}
	if evs[0].data["matches"] != true || evs[1].data["matches"] != false || evs[2].data["matches"] != true {
		t.Errorf("matches: %v %v %v", evs[0].data["matches"], evs[1].data["matches"], evs[2].data["matches"])
	}
	unassigned.quiet(t, 100*time.Millisecond)

	// Ann's notifications only.
	_, evs = annInbox.take(t, 3)
	for _, ev := range evs {
		if ev.data["notification"].(map[string]any)["recipient"] != "ann" {
			t.Errorf("ann's stream got %v", ev.data)
		}
	}
	annInbox.quiet(t, 100*time.Millisecond)
}

func isTime(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	return err == nil && len(s) == 24
}

// TestReopenAndAssign: reopen by an operator and by a customer message,
// transfers and unassignment, with their transcript entries and
// notifications.
func TestReopenAndAssign(t *testing.T) {
	ts := startServer(t, nil)
	fixture(t, ts) // chat 1 ann's, chat 2 unassigned, chat 3 closed (bob's)
	const a = "/v1/accounts/acme"

	chat := ts.must(t, 200, "POST", a+"/chats/3/reopen", map[string]any{"operator": "ann"})
	if chat["status"] != "active" || chat["assignee"] != "bob" || chat["closed_at"] != nil || chat["closed_by"] != nil {
		t.Fatalf("reopened: %v", chat)
	}
	inbox := ts.must(t, 200, "GET", a+"/operators/bob/notifications", nil)["notifications"].([]any)
	if len(inbox) != 1 || inbox[0].(map[string]any)["type"] != "chat_reopened" || inbox[0].(map[string]any)["operator"] != "ann" {
		t.Fatalf("bob's inbox: %v", inbox)
	}
	// Reopening an active chat changes nothing.
	before := ts.b.f.AppliedIndex()
	ts.must(t, 200, "POST", a+"/chats/3/reopen", map[string]any{"operator": "ann"})
	if ev, _ := ts.b.f.Events("acme", 0, 0); ev.LastSeq != 17 || ts.b.f.AppliedIndex() != before+1 {
		t.Fatalf("no-op reopen emitted events: last seq %d", ev.LastSeq)
	}

	// Close again; a customer message reopens it with a system entry first.
	ts.must(t, 200, "POST", a+"/chats/3/close", map[string]any{"operator": "bob"})
	r := ts.must(t, 201, "POST", a+"/chats/3/messages", map[string]any{"author": map[string]any{"type": "customer"}, "text": "still there?"})
	if r["chat"].(map[string]any)["status"] != "active" || r["chat"].(map[string]any)["unread"] != true || r["message"].(map[string]any)["text"] != "still there?" {
		t.Fatalf("customer reopen: %v", r)
	}
	msgs := ts.must(t, 200, "GET", a+"/chats/3/messages?after=4", nil)["messages"].([]any)
	sys := msgs[len(msgs)-2].(map[string]any)
	if sys["event"] != "reopened" || sys["operator"] != nil || sys["text"] != "" || sys["author"].(map[string]any)["type"] != "system" {
		t.Fatalf("reopened entry: %v", msgs)
	}

	// Transfer chat 1 from ann to bob, then unassign it.
	chat = ts.must(t, 200, "POST", a+"/chats/1/assign", map[string]any{"operator": "bob", "by": "ann"})
	if chat["assignee"] != "bob" {
		t.Fatalf("transfer: %v", chat)
	}
	chat = ts.must(t, 200, "POST", a+"/chats/1/assign", map[string]any{"operator": nil, "by": "ann"})
	if chat["assignee"] != nil {
		t.Fatalf("unassign: %v", chat)
	}
	msgs = ts.must(t, 200, "GET", a+"/chats/1/messages", nil)["messages"].([]any)
	var events []string
	for _, m := range msgs {
		if e, ok := m.(map[string]any)["event"]; ok {
			events = append(events, e.(string)+":"+fmt.Sprint(m.(map[string]any)["operator"]))
		}
	}
	if !reflect.DeepEqual(events, []string{"assigned:bob", "unassigned:bob"}) {
		t.Fatalf("system entries: %v", events)
	}
}
