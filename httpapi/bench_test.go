package httpapi

// Benchmarks of the HTTP layer over loopback with one fasthttp.HostClient
// (HostClient rather than PipelineClient: pipelining would distort
// latencies by head-of-line blocking).
//
// The list benchmark loads the standard dataset (fsm/dataset; 1,000,000
// chats at scale 1.0, about a minute and several GB) once per test binary.
// Set CHATSTATE_BENCH_SCALE (e.g. 0.05) for a smaller one. Targets, one
// client on loopback at 1,000,000 chats: a list page of 50 chats p50 <=
// 100 µs, p99 <= 250 µs.
//
// Latency percentiles are reported with b.ReportMetric (nearest rank).

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
)

const benchScaleEnv = "CHATSTATE_BENCH_SCALE"

type benchDataset struct {
	backend *testBackend
	shape   dataset.Shape
	load    time.Duration
}

var loadBenchDataset = sync.OnceValues(func() (*benchDataset, error) {
	scale := 1.0
	if v := os.Getenv(benchScaleEnv); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", benchScaleEnv, v, err)
		}
		scale = s
	}
	cfg := dataset.Standard().WithScale(scale)
	shape, err := cfg.Shape()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	b := newTestBackend()
	batch := make([][]byte, 0, 64)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b.index++
		out := b.f.Apply(&raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: fsm.EncodeBatch(batch)})
		batch = batch[:0]
		for _, r := range out.([]fsm.Result) {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	}
	_, err = dataset.Generate(cfg, func(cmd fsm.Command) error {
		enc, err := fsm.EncodeCommand(cmd)
		if err != nil {
			return err
		}
		batch = append(batch, enc)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("loading the dataset: %w", err)
	}
	return &benchDataset{backend: b, shape: shape, load: time.Since(start)}, nil
})

// benchServer serves backend on loopback and returns a one-connection
// client for it.
func benchServer(b *testing.B, backend *testBackend) (*fasthttp.HostClient, func()) {
	b.Helper()
	s, err := New(DefaultConfig(), backend)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 1, MaxIdleConnDuration: time.Minute}
	return client, func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}
}

type latencies []time.Duration

// report sorts l and reports its p50, p90, p99 and max as
// "<prefix>p50-ns" and so on.
func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) time.Duration {
		rank := int(math.Ceil(p / 100 * float64(len(l))))
		return l[min(max(rank, 1), len(l))-1]
	}
	b.ReportMetric(float64(pct(50).Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(pct(90).Nanoseconds()), prefix+"p90-ns")
	b.ReportMetric(float64(pct(99).Nanoseconds()), prefix+"p99-ns")
	b.ReportMetric(float64(l[len(l)-1].Nanoseconds()), prefix+"max-ns")
}

// BenchmarkListChatsHTTP: pages of 50 chats of the dataset's big account,
// per filter, over HTTP. Every iteration sends one request of each case in
// turn (so drift in the machine's load hits every case alike); each case
// reports its own percentiles as "<case>-p50-ns" and so on. It is one
// benchmark rather than sub-benchmarks because the testing package forces
// a GC of the multi-GB heap before every run.
func BenchmarkListChatsHTTP(b *testing.B) {
	ds, err := loadBenchDataset()
	if err != nil {
		b.Fatal(err)
	}
	client, stop := benchServer(b, ds.backend)
	defer stop()
	account := ds.shape.BigAccount
	ops, err := ds.backend.f.Operators(account)
	if err != nil || len(ops) == 0 {
		b.Fatalf("operators of %s: %v", account, err)
	}
	base := "/v1/accounts/" + account
	// A cursor into the closed list, eleven pages in.
	page, err := ds.backend.f.ListChats(account, fsm.ListQuery{Filter: fsm.ChatFilter{Status: fsm.StatusClosed}, Limit: 500})
	if err != nil || page.Next == nil {
		b.Fatalf("closed list: %v", err)
	}
	cursor := string(appendCursor(nil, page.Next))
	cases := []struct{ name, uri, accept string }{
		{"active", "/chats?limit=50", ""},
		{"active-msgpack", "/chats?limit=50", "application/msgpack"},
		{"closed", "/chats?limit=50&status=closed", ""},
		{"closed-page11", "/chats?limit=50&status=closed&cursor=" + cursor, ""},
		{"operator", "/chats?limit=50&operator=" + ops[0].ID, ""},
		{"unassigned", "/chats?limit=50&operator=unassigned", ""},
		{"unread", "/chats?limit=50&unread=true", ""},
		{"closed-visitor-email", "/chats?limit=50&status=closed&contact_type=visitor&source=email", ""},
		{"stale", "/chats?limit=50&consistency=stale", ""},
		{"counts", "/chats/counts", ""},
		{"chat", "/chats/1", ""},
	}
	reqs := make([]*fasthttp.Request, len(cases))
	for i, c := range cases {
		reqs[i] = fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(reqs[i])
		reqs[i].SetRequestURI("http://" + client.Addr + base + c.uri)
		if c.accept != "" {
			reqs[i].Header.Set("Accept", c.accept)
		}
	}
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(res)
	do := func(i int) {
		if err := client.Do(reqs[i], res); err != nil || res.StatusCode() != 200 || len(res.Body()) == 0 {
			b.Fatalf("%s: %v %d %s", cases[i].name, err, res.StatusCode(), res.Body())
		}
	}
	for range 100 { // warm the connection and the paths
		for i := range cases {
			do(i)
		}
	}
	b.Logf("dataset: %d chats, loaded in %v", ds.shape.Chats, ds.load)
	lat := make([]latencies, len(cases))
	b.ResetTimer()
	for range b.N {
		for i := range cases {
			t0 := time.Now()
			do(i)
			lat[i] = append(lat[i], time.Since(t0))
		}
	}
	b.StopTimer()
	for i, c := range cases {
		lat[i].report(b, c.name+"-")
	}
}

// BenchmarkWritePath compares a write over HTTP (decode, build, propose,
// render) with the same Propose called directly, on a small state: the
// difference is what the HTTP layer adds to a write.
func BenchmarkWritePath(b *testing.B) {
	backend := newTestBackend()
	client, stop := benchServer(b, backend)
	defer stop()
	setup := []struct{ method, path, body string }{
		{"PUT", "/v1/accounts/acme", `{"name":"Acme"}`},
		{"PUT", "/v1/accounts/acme/operators/ann", `{"name":"Ann"}`},
		{"POST", "/v1/accounts/acme/chats", `{"contact":{"type":"visitor"},"source":"email","text":"hi"}`},
	}
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	do := func(method, path, body string) {
		req.Reset()
		req.Header.SetMethod(method)
		req.SetRequestURI("http://" + client.Addr + path)
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
		if err := client.Do(req, res); err != nil || res.StatusCode() >= 300 {
			b.Fatalf("%s %s: %v %d %s", method, path, err, res.StatusCode(), res.Body())
		}
	}
	for _, s := range setup {
		do(s.method, s.path, s.body)
	}
	const text = "Thanks, I will look into your order right away and come back to you shortly."
	b.Run("http", func(b *testing.B) {
		body := `{"author":{"type":"customer"},"text":"` + text + `"}`
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			do("POST", "/v1/accounts/acme/chats/1/messages", body)
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		lat.report(b, "")
	})
	b.Run("propose", func(b *testing.B) {
		lat := make(latencies, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			cmd := &fsm.CustomerMessage{Chat: 1, Text: text}
			cmd.Account, cmd.Time = "acme", fsm.MillisOf(time.Now())
			if _, _, err := backend.Propose(context.Background(), cmd); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		lat.report(b, "")
	})
}

// BenchmarkListChatsHTTPConcurrent: 16 clients, each on its own
// connection, fetch list pages of 50 chats of the big account as fast as
// they are answered (closed loop), cycling through the list filters of
// BenchmarkListChatsHTTP. b.N is the total number of pages; it reports the
// throughput as pages/s and the latency percentiles over all clients.
func BenchmarkListChatsHTTPConcurrent(b *testing.B) {
	const clients = 16
	ds, err := loadBenchDataset()
	if err != nil {
		b.Fatal(err)
	}
	first, stop := benchServer(b, ds.backend)
	defer stop()
	account := ds.shape.BigAccount
	ops, err := ds.backend.f.Operators(account)
	if err != nil || len(ops) == 0 {
		b.Fatalf("operators of %s: %v", account, err)
	}
	base := "http://" + first.Addr + "/v1/accounts/" + account + "/chats?limit=50"
	uris := []string{
		base,
		base + "&status=closed",
		base + "&operator=" + ops[0].ID,
		base + "&operator=unassigned",
		base + "&unread=true",
		base + "&status=closed&contact_type=visitor&source=email",
	}
	perClient := make([]latencies, clients)
	errs := make(chan error, clients)
	run := func(w, n int) {
		client := &fasthttp.HostClient{Addr: first.Addr, MaxConns: 1, MaxIdleConnDuration: time.Minute}
		defer client.CloseIdleConnections()
		req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(res)
		lat := make(latencies, 0, n)
		for i := range n {
			req.SetRequestURI(uris[(w+i)%len(uris)])
			t0 := time.Now()
			if err := client.Do(req, res); err != nil || res.StatusCode() != 200 {
				errs <- fmt.Errorf("client %d: %v %d %s", w, err, res.StatusCode(), res.Body())
				return
			}
			lat = append(lat, time.Since(t0))
		}
		perClient[w] = lat
	}
	// Warm every connection and path before the clock starts.
	var warm sync.WaitGroup
	for w := range clients {
		warm.Add(1)
		go func() { defer warm.Done(); run(w, 20) }()
	}
	warm.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		n := b.N / clients
		if w < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() { defer wg.Done(); run(w, n) }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	var all latencies
	for _, l := range perClient {
		all = append(all, l...)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pages/s")
	all.report(b, "")
}
