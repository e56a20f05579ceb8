package cluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

// clusterClient sends requests to a cluster the way a careful client
// does: to the node it believes leads, following 307s to the leader, and
// moving on to the next member when a node is down or has no leader. It
// uses one fasthttp.HostClient per node.
type clusterClient struct {
	members []string
	target  atomic.Int64 // index into members of the node tried first

	mu    sync.Mutex
	hosts map[string]*fasthttp.HostClient
}

func newClusterClient(members []string) *clusterClient {
	return &clusterClient{members: members, hosts: map[string]*fasthttp.HostClient{}}
}

func (cc *clusterClient) host(addr string) *fasthttp.HostClient {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	h, ok := cc.hosts[addr]
	if !ok {
		h = &fasthttp.HostClient{
			Addr:                addr,
			Name:                "cluster-test",
			MaxConns:            64,
			MaxIdleConnDuration: 2 * time.Second,
			ReadTimeout:         5 * time.Second,
			WriteTimeout:        5 * time.Second,
		}
		cc.hosts[addr] = h
	}
	return h
}

// requestTimeout bounds one HTTP exchange.
const requestTimeout = 5 * time.Second

// errTooManyRedirects means nodes kept redirecting without an answer.
var errTooManyRedirects = errors.New("too many redirects")

// do sends one request, following up to five redirects. A connection
// error or a 503 makes the next call start at the next member.
func (cc *clusterClient) do(method, pathAndQuery, body string, header map[string]string) (reply, error) {
	i := int(cc.target.Load())
	addr := cc.members[i%len(cc.members)]
	for range 5 {
		r, err := cc.once(addr, method, pathAndQuery, body, header)
		if err != nil || r.status == 503 {
			cc.target.CompareAndSwap(int64(i), int64(i+1)%int64(len(cc.members)))
			return r, err
		}
		if r.status != 307 {
			return r, nil
		}
		addr = r.header["X-Leader"]
		for j, m := range cc.members {
			if m == addr {
				cc.target.Store(int64(j))
			}
		}
	}
	return reply{}, errTooManyRedirects
}

// retry sends a write with Idempotency-Key key until it gets an answer
// other than a connection error, 503 or 504, or timeout passes (it then
// returns the last error or answer).
func (cc *clusterClient) retry(method, pathAndQuery, body, key string, timeout time.Duration) (reply, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := cc.do(method, pathAndQuery, body, map[string]string{"Idempotency-Key": key})
		if (err == nil && r.status != 503 && r.status != 504) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(20 * time.Millisecond) // back off before the retry
	}
}

func (cc *clusterClient) once(addr, method, pathAndQuery, body string, header map[string]string) (reply, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + pathAndQuery)
	req.Header.SetMethod(method)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if err := cc.host(addr).DoTimeout(req, resp, requestTimeout); err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for _, h := range []string{"X-Leader", "X-Index", "Idempotent-Replayed"} {
		if v := resp.Header.Peek(h); v != nil {
			r.header[h] = string(v)
		}
	}
	return r, nil
}

// The operations of the workload, on one chat.
const (
	opCustomer = "customer" // a customer message
	opReply    = "reply"    // an operator's reply (takes the chat if unassigned)
	opRead     = "read"     // a linearizable read of the chat
)

// chatInput is what a client asked for.
type chatInput struct {
	Chat     int
	Kind     string
	Operator string // for replies
	Text     string // unique per write; also its Idempotency-Key
}

// chatOutput is what the cluster answered. Unknown means the client gave
// up without an answer (or got only errors): the write may or may not have
// taken effect.
type chatOutput struct {
	Unknown  bool
	Status   int
	Code     string // error code of a refusal
	Seq      int    // the new message's seq
	Count    int    // message_count of the chat in the answer
	Assignee string // "" when unassigned
}

// operation is one entry of the recorded history.
type operation struct {
	client int
	in     chatInput
	out    chatOutput
	call   time.Duration // since the workload began
	ret    time.Duration // -1 while (or if forever) unknown
}

// workload runs clients that write to and read a few chats of one
// account, recording every invocation and response for the checks.
type workload struct {
	t       *testing.T
	cc      *clusterClient
	account string
	chats   int
	begin   time.Time
	// opTimeout is how long a client retries one write before recording
	// its outcome as unknown.
	opTimeout time.Duration

	stop    chan struct{}
	wg      sync.WaitGroup
	acked   atomic.Int64
	ackWake chan struct{} // closed and replaced on every acknowledgement

	mu      sync.Mutex
	history []operation
	ackTime []time.Duration // when each write was acknowledged
}

func newWorkload(t *testing.T, c *clustertest.Cluster, chats int) *workload {
	t.Helper()
	w := &workload{
		t: t, cc: newClusterClient(c.HTTPAddrs()), account: "acme", chats: chats,
		opTimeout: 30 * time.Second, stop: make(chan struct{}), ackWake: make(chan struct{}),
	}
	setup := []struct{ method, path, body string }{
		{"PUT", "/v1/accounts/acme", `{"name":"Acme"}`},
		{"PUT", "/v1/accounts/acme/operators/ann", `{"name":"Ann"}`},
		{"PUT", "/v1/accounts/acme/operators/bob", `{"name":"Bob"}`},
	}
	for i := 1; i <= chats; i++ {
		setup = append(setup, struct{ method, path, body string }{"POST", "/v1/accounts/acme/chats",
			fmt.Sprintf(`{"contact":{"type":"visitor","id":"v%d"},"source":"chat_page","text":"hello %d"}`, i, i)})
	}
	for i, s := range setup {
		r, err := w.cc.retry(s.method, s.path, s.body, fmt.Sprintf("setup-%d", i), w.opTimeout)
		if err != nil || r.status >= 300 {
			t.Fatalf("setup %s %s: %v %d %s", s.method, s.path, err, r.status, r)
		}
	}
	w.begin = time.Now()
	return w
}

// start runs n clients until halt.
func (w *workload) start(n int) {
	for i := range n {
		w.wg.Add(1)
		go w.client(i)
	}
}

// halt stops the clients after their current operation and waits.
func (w *workload) halt() {
	close(w.stop)
	w.wg.Wait()
}

func (w *workload) client(id int) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(id), uint64(w.begin.UnixNano())))
	for seq := 0; ; seq++ {
		select {
		case <-w.stop:
			return
		default:
		}
		in := chatInput{Chat: 1 + rng.IntN(w.chats), Text: fmt.Sprintf("c%d-%d", id, seq)}
		switch p := rng.IntN(100); {
		case p < 50:
			in.Kind = opCustomer
		case p < 75:
			in.Kind = opReply
			in.Operator = []string{"ann", "bob"}[rng.IntN(2)]
		default:
			in.Kind = opRead
			in.Text = ""
		}
		w.run(id, in)
	}
}

// run performs one operation, retrying a write with the same
// Idempotency-Key until it has an answer or opTimeout passes, and records
// it.
func (w *workload) run(client int, in chatInput) {
	op := operation{client: client, in: in, call: time.Since(w.begin), ret: -1}
	path := fmt.Sprintf("/v1/accounts/%s/chats/%d", w.account, in.Chat)
	var method, body string
	header := map[string]string{}
	switch in.Kind {
	case opRead:
		method, path = "GET", path+"?consistency=linearizable"
	case opCustomer:
		method, path = "POST", path+"/messages"
		body = fmt.Sprintf(`{"author":{"type":"customer"},"text":%q}`, in.Text)
		header["Idempotency-Key"] = in.Text
	case opReply:
		method, path = "POST", path+"/messages"
		body = fmt.Sprintf(`{"author":{"type":"operator","id":%q},"text":%q}`, in.Operator, in.Text)
		header["Idempotency-Key"] = in.Text
	}
	deadline := time.Now().Add(w.opTimeout)
	for {
		r, err := w.cc.do(method, path, body, header)
		if err == nil && r.status != 503 && r.status != 504 {
			op.ret = time.Since(w.begin)
			op.out = w.decodeOutput(in, r)
			break
		}
		if in.Kind == opRead {
			return // a read that got no answer changed nothing: leave it out
		}
		if time.Now().After(deadline) {
			op.out = chatOutput{Unknown: true}
			break
		}
		time.Sleep(20 * time.Millisecond) // back off before the retry
	}
	w.mu.Lock()
	w.history = append(w.history, op)
	if in.Kind != opRead && !op.out.Unknown && op.out.Status < 300 {
		w.ackTime = append(w.ackTime, op.ret)
		w.acked.Add(1)
		close(w.ackWake)
		w.ackWake = make(chan struct{})
	}
	w.mu.Unlock()
}

// decodeOutput reads the parts of an answer the model checks. An answer
// the test does not expect fails the test (and is recorded as is, which
// the model rejects).
func (w *workload) decodeOutput(in chatInput, r reply) chatOutput {
	out := chatOutput{Status: r.status, Code: r.errorCode()}
	var chat struct {
		MessageCount int     `json:"message_count"`
		Assignee     *string `json:"assignee"`
	}
	switch {
	case in.Kind == opRead && r.status == 200:
		if err := json.Unmarshal(r.body, &chat); err != nil {
			w.t.Errorf("read chat %d: %v: %s", in.Chat, err, r.body)
		}
	case in.Kind != opRead && r.status == 201:
		var res struct {
			Message struct {
				Seq int `json:"seq"`
			} `json:"message"`
			Chat *json.RawMessage `json:"chat"`
		}
		if err := json.Unmarshal(r.body, &res); err != nil || res.Chat == nil {
			w.t.Errorf("write to chat %d: %v: %s", in.Chat, err, r.body)
			break
		}
		out.Seq = res.Message.Seq
		_ = json.Unmarshal(*res.Chat, &chat)
	case in.Kind == opReply && r.status == 409 && out.Code == "not_participant":
	default:
		w.t.Errorf("%s on chat %d: unexpected answer %d %s", in.Kind, in.Chat, r.status, r)
	}
	out.Count = chat.MessageCount
	if chat.Assignee != nil {
		out.Assignee = *chat.Assignee
	}
	return out
}

// waitAcked waits until n more writes than now have been acknowledged.
func (w *workload) waitAcked(n int64, timeout time.Duration) {
	w.t.Helper()
	target := w.acked.Load() + n
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		wake := w.ackWake
		w.mu.Unlock()
		if w.acked.Load() >= target {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			w.t.Fatalf("only %d of %d acknowledged writes after %s", w.acked.Load(), target, timeout)
		}
	}
}

// operations returns a copy of the history.
func (w *workload) operations() []operation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]operation(nil), w.history...)
}

// longestWriteGap is the longest time between two acknowledged writes
// (how long clients could not write, around a failover).
func (w *workload) longestWriteGap() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	times := append([]time.Duration(nil), w.ackTime...)
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i]-times[i-1])
	}
	return gap
}

// message is a transcript entry as the checks need it.
type message struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

// transcript reads a chat's whole transcript from one node's memory.
func transcript(t *testing.T, n *clustertest.Node, account string, chat int, minIndex uint64) []message {
	t.Helper()
	var all []message
	after := 0
	for {
		r := call(t, "GET", n.URL(fmt.Sprintf("/v1/accounts/%s/chats/%d/messages?consistency=stale&min_index=%d&after=%d&limit=500",
			account, chat, minIndex, after)), "")
		if r.status != 200 {
			t.Fatalf("%s: transcript of chat %d: %d %s", n.ID, chat, r.status, r)
		}
		var page struct {
			Messages  []message `json:"messages"`
			NextAfter *int      `json:"next_after"`
		}
		decode(t, r, &page)
		all = append(all, page.Messages...)
		if page.NextAfter == nil {
			return all
		}
		after = *page.NextAfter
	}
}

// checkDurable checks that every running node holds the same transcripts,
// that each acknowledged write is there once at the seq it was
// acknowledged with, that no text appears twice, and that every message
// is one the workload sent. It waits for every running node to apply the
// leader's commit index first.
func (w *workload) checkDurable(c *clustertest.Cluster) {
	t := w.t
	t.Helper()
	index := c.WaitConverged()
	ops := w.operations()
	sent := map[string]operation{}
	for _, op := range ops {
		if op.in.Text != "" {
			sent[op.in.Text] = op
		}
	}
	acked := 0
	for _, n := range c.Running() {
		for chat := 1; chat <= w.chats; chat++ {
			msgs := transcript(t, n, w.account, chat, index)
			seen := map[string]int{}
			for i, m := range msgs {
				if m.Seq != i+1 {
					t.Errorf("%s: chat %d: message %d has seq %d", n.ID, chat, i+1, m.Seq)
				}
				if prev, dup := seen[m.Text]; dup {
					t.Errorf("%s: chat %d: %q at seq %d and %d (a duplicate)", n.ID, chat, m.Text, prev, m.Seq)
				}
				seen[m.Text] = m.Seq
				if op, ok := sent[m.Text]; ok && op.in.Chat != chat {
					t.Errorf("%s: chat %d holds %q, sent to chat %d", n.ID, chat, m.Text, op.in.Chat)
				} else if !ok && m.Text != fmt.Sprintf("hello %d", chat) {
					t.Errorf("%s: chat %d holds %q, which no client sent", n.ID, chat, m.Text)
				}
			}
			for _, op := range ops {
				if op.in.Chat != chat || op.in.Kind == opRead || op.out.Unknown || op.out.Status != 201 {
					continue
				}
				acked++
				if seq, ok := seen[op.in.Text]; !ok {
					t.Errorf("%s: chat %d lost acknowledged write %q (seq %d)", n.ID, chat, op.in.Text, op.out.Seq)
				} else if seq != op.out.Seq {
					t.Errorf("%s: chat %d has %q at seq %d, acknowledged at seq %d", n.ID, chat, op.in.Text, seq, op.out.Seq)
				}
			}
		}
	}
	if acked == 0 {
		t.Errorf("no write was acknowledged: the check proves nothing")
	}
	t.Logf("checked %d operations on %d nodes: every acknowledged write present once at its seq", len(ops), len(c.Running()))
}
