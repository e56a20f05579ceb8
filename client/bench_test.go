package client_test

import (
	"context"
	"encoding/json"
	"github.com/vmihailenco/msgpack/v5"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/client"
)

// The client's overhead over a hand-built fasthttp request: the same
// request through a bare HostClient (what a user would write without the
// client) against the same in-process fake node, one request at a time.
// Each benchmark reports the median latency as p50-ns.
//
//	go test -run '^$' -bench . -benchtime 20000x -count 5 ./client/

// benchNode answers every GET with a chat and every POST with a chat, in
// the encoding asked for.
func benchNode(b *testing.B) *fakeNode {
	mp := jsonToMsgpack(b, chatJSON)
	return newFakeNode(b, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("Accept")) == "application/msgpack" {
			ctx.SetContentType("application/msgpack")
			ctx.SetBody(mp)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(chatJSON)
	})
}

// measure runs op b.N times and reports the median latency.
func measure(b *testing.B, op func() error) {
	lat := make([]time.Duration, b.N)
	for i := 0; i < 200; i++ { // warm connections and pools
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func rawHostClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxIdleConnDuration: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
}

func BenchmarkGetChat(b *testing.B) {
	node := benchNode(b)
	b.Run("raw-fasthttp", func(b *testing.B) {
		hc := rawHostClient(node.Addr)
		measure(b, func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("/v1/accounts/acme/chats/42")
			req.Header.SetHost(node.Addr)
			req.Header.Set("Accept", "application/json")
			if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return errStatus(resp.StatusCode())
			}
			var chat client.Chat
			return json.Unmarshal(resp.Body(), &chat)
		})
	})
	for _, enc := range []client.Encoding{client.JSON, client.MessagePack} {
		b.Run("client-"+enc.String(), func(b *testing.B) {
			c := benchClient(b, node.Addr, enc)
			measure(b, func() error {
				_, err := c.GetChat(context.Background(), "acme", 42)
				return err
			})
		})
	}
}

func BenchmarkMarkRead(b *testing.B) {
	node := benchNode(b)
	b.Run("raw-fasthttp", func(b *testing.B) {
		hc := rawHostClient(node.Addr)
		body := []byte(`{"operator":"ann"}`)
		measure(b, func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod("POST")
			req.SetRequestURI("/v1/accounts/acme/chats/42/read")
			req.Header.SetHost(node.Addr)
			req.Header.SetContentType("application/json")
			req.Header.Set("Accept", "application/json")
			req.SetBodyRaw(body)
			if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return errStatus(resp.StatusCode())
			}
			var chat client.Chat
			return json.Unmarshal(resp.Body(), &chat)
		})
	})
	b.Run("client-json", func(b *testing.B) {
		c := benchClient(b, node.Addr, client.JSON)
		measure(b, func() error {
			_, err := c.MarkRead(context.Background(), "acme", 42, "ann")
			return err
		})
	})
}

func benchClient(b *testing.B, addr string, enc client.Encoding) *client.Client {
	cfg := client.DefaultConfig()
	cfg.Addrs = []string{addr}
	cfg.Encoding = enc
	c, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

type errStatus int

func (e errStatus) Error() string { return "status " + itoa(int64(e)) }

// BenchmarkOverhead alternates the bare request and the client's call
// op by op, so that load from elsewhere on the machine falls on both
// alike, and reports both medians and the client's overhead in percent.
func BenchmarkOverhead(b *testing.B) {
	node := benchNode(b)
	hc := rawHostClient(node.Addr)
	raw := func(method, uri, accept string, body []byte, decode func([]byte) error) func() error {
		return func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(method)
			req.SetRequestURI(uri)
			req.Header.SetHost(node.Addr)
			req.Header.Set("Accept", accept)
			if body != nil {
				req.Header.SetContentType("application/json")
				req.SetBodyRaw(body)
			}
			if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return errStatus(resp.StatusCode())
			}
			return decode(resp.Body())
		}
	}
	decodeJSON := func(b []byte) error { var c client.Chat; return json.Unmarshal(b, &c) }
	decodeMsgpack := func(b []byte) error { var c client.Chat; return msgpack.Unmarshal(b, &c) }
	cj := benchClient(b, node.Addr, client.JSON)
	cm := benchClient(b, node.Addr, client.MessagePack)
	ctx := context.Background()
	cases := []struct {
		name        string
		raw, client func() error
	}{
		{"GetChat-json", raw("GET", "/v1/accounts/acme/chats/42", "application/json", nil, decodeJSON),
			func() error { _, err := cj.GetChat(ctx, "acme", 42); return err }},
		{"GetChat-msgpack", raw("GET", "/v1/accounts/acme/chats/42", "application/msgpack", nil, decodeMsgpack),
			func() error { _, err := cm.GetChat(ctx, "acme", 42); return err }},
		{"MarkRead-json", raw("POST", "/v1/accounts/acme/chats/42/read", "application/json", []byte(`{"operator":"ann"}`), decodeJSON),
			func() error { _, err := cj.MarkRead(ctx, "acme", 42, "ann"); return err }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for range 200 {
				if tc.raw() != nil || tc.client() != nil {
					b.Fatal("warm-up failed")
				}
			}
			rawLat := make([]time.Duration, b.N)
			cliLat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := tc.raw(); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := tc.client(); err != nil {
					b.Fatal(err)
				}
				rawLat[i], cliLat[i] = mid.Sub(start), time.Since(mid)
			}
			b.StopTimer()
			slices.Sort(rawLat)
			slices.Sort(cliLat)
			r, c := rawLat[b.N/2], cliLat[b.N/2]
			b.ReportMetric(float64(r.Nanoseconds()), "raw-p50-ns")
			b.ReportMetric(float64(c.Nanoseconds()), "client-p50-ns")
			b.ReportMetric(100*float64(c-r)/float64(r), "overhead-%")
		})
	}
}

// BenchmarkListChats is one list page of 50 chats through the client,
// against a node that answers every request with the same page: what
// chatbench's R1 costs on the client's side, with allocations.
//
//	go test -run '^$' -bench ListChats -benchmem ./client/
func BenchmarkListChats(b *testing.B) {
	mp, js := client.SamplePageBodies()
	node := newFakeNode(b, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("Accept")) == "application/msgpack" {
			ctx.SetContentType("application/msgpack")
			ctx.SetBody(mp)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(js)
	})
	req := client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusClosed, Operator: "op-007", Source: client.SourceEmail}, Limit: 50}
	for _, enc := range []client.Encoding{client.MessagePack, client.JSON} {
		b.Run(enc.String(), func(b *testing.B) {
			c := benchClient(b, node.Addr, enc)
			measure(b, func() error {
				_, err := c.ListChats(context.Background(), "acme", req)
				return err
			})
		})
	}
}
