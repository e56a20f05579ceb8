package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestPprofServesProfiles(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := servePprof(ln, slog.New(slog.DiscardHandler))
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("cmdline: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the pprof listener serves the API: %d", resp.StatusCode)
	}
}

func TestPprofFlagFollowsTheLoopbackRule(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	if o, err := parseOptions([]string{"--pprof", "127.0.0.1:6060"}, noEnv, io.Discard); err != nil || o.Pprof != "127.0.0.1:6060" {
		t.Fatalf("loopback --pprof: %+v %v", o.Pprof, err)
	}
	_, err := parseOptions([]string{"--pprof", "0.0.0.0:6060"}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--pprof") {
		t.Fatalf("non-loopback --pprof without a token: %v", err)
	}
	if _, err := parseOptions([]string{"--pprof", "nonsense"}, noEnv, io.Discard); err == nil {
		t.Fatal("--pprof nonsense accepted")
	}
}
