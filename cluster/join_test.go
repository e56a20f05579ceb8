package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/cluster"
)

// serve runs h on a loopback port until the test ends and returns its
// address.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck // ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func testConfig(members ...string) cluster.JoinConfig {
	cfg := cluster.DefaultJoinConfig()
	cfg.Members = members
	cfg.RetryInterval = 10 * time.Millisecond
	cfg.RequestTimeout = 2 * time.Second
	return cfg
}

func TestJoinFollowsRedirectAndRetriesUntilLeaderAccepts(t *testing.T) {
	var attempts atomic.Int32
	var got cluster.JoinRequest
	leader := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/v1/cluster/join" || !ctx.IsPost() {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		if attempts.Add(1) < 3 { // an election in progress
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			return
		}
		if err := json.Unmarshal(ctx.PostBody(), &got); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
	})
	follower := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "http://"+leader+"/v1/cluster/join")
		ctx.SetStatusCode(fasthttp.StatusTemporaryRedirect)
	})
	down := "127.0.0.1:1" // nothing listens there

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := cluster.JoinRequest{ID: "n2", Raft: "127.0.0.1:9002", HTTP: "127.0.0.1:8002"}
	if err := cluster.Join(ctx, testConfig(down, follower), want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("leader received %+v, want %+v", got, want)
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("leader saw %d attempts, want 3", n)
	}
}

func TestJoinRefusedIsFinal(t *testing.T) {
	var attempts atomic.Int32
	member := serve(t, func(ctx *fasthttp.RequestCtx) {
		attempts.Add(1)
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetBodyString(`{"error":{"code":"invalid_field","message":"id is not valid","field":"id"}}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := cluster.Join(ctx, testConfig(member), cluster.JoinRequest{ID: "bad id"})
	if !errors.Is(err, cluster.ErrJoinRefused) {
		t.Fatalf("err = %v, want ErrJoinRefused", err)
	}
	if attempts.Load() != 1 {
		t.Fatalf("a refused join was retried %d times", attempts.Load())
	}
}

func TestJoinGivesUpWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := cluster.Join(ctx, testConfig("127.0.0.1:1"), cluster.JoinRequest{ID: "n2"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}
