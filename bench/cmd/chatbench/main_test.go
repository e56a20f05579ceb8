package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/bench"
)

func TestParseFlagsDefaultsAreTheStandardSuite(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def := bench.DefaultConfig()
	if cfg.Scale != 1 || cfg.Nodes != 3 || cfg.Duration != def.Duration || !slices.Equal(cfg.WriteClients, []int{16, 64, 256}) ||
		!slices.Equal(cfg.Readers, []int{1, 16, 64}) || cfg.MixRate != 5000 || cfg.Reference != def.Reference || len(cfg.Addrs) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseFlagsQuickIsOverriddenByExplicitFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--duration", "5s", "--quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	q := bench.QuickConfig()
	if cfg.Scale != q.Scale || cfg.Warmup != q.Warmup || cfg.Duration != 5*time.Second {
		t.Fatalf("quick with --duration 5s: scale %v warmup %v duration %v", cfg.Scale, cfg.Warmup, cfg.Duration)
	}
}

func TestParseFlagsLists(t *testing.T) {
	cfg, err := parseFlags([]string{
		"--addrs", "127.0.0.1:8080, 127.0.0.1:8081", "--nodes", "2",
		"--write-clients", "8,32", "--readers", "4", "--workloads", "w2,r1",
		"--chatstated-args", "--raft-commit-timeout 5ms --log-level error",
		"--reference", "Other:1000:5.5", "--encoding", "json",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Addrs, []string{"127.0.0.1:8080", "127.0.0.1:8081"}) || cfg.Nodes != 2 {
		t.Errorf("addrs %q nodes %d", cfg.Addrs, cfg.Nodes)
	}
	if !slices.Equal(cfg.WriteClients, []int{8, 32}) || !slices.Equal(cfg.Readers, []int{4}) {
		t.Errorf("clients %v readers %v", cfg.WriteClients, cfg.Readers)
	}
	if !slices.Equal(cfg.Workloads, []string{"w2", "r1"}) || !cfg.Has("r1") || cfg.Has("w1") {
		t.Errorf("workloads %v", cfg.Workloads)
	}
	if !slices.Equal(cfg.ChatstatedArgs, []string{"--raft-commit-timeout", "5ms", "--log-level", "error"}) {
		t.Errorf("chatstated args %q", cfg.ChatstatedArgs)
	}
	if cfg.Reference != (bench.Reference{Name: "Other", Throughput: 1000, P99Ms: 5.5}) || cfg.Encoding != "json" {
		t.Errorf("reference %+v encoding %s", cfg.Reference, cfg.Encoding)
	}
	cfg, err = parseFlags([]string{"--reference", ""}, io.Discard)
	if err != nil || cfg.Reference.Throughput != 0 {
		t.Errorf("empty reference: %+v %v", cfg.Reference, err)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--write-clients", "16,x"}, "--write-clients"},
		{[]string{"--readers", "0"}, "--readers"},
		{[]string{"--nodes", "2"}, "--nodes"},
		{[]string{"--scale", "-1"}, "--scale"},
		{[]string{"--workloads", "w1,w7"}, "w7"},
		{[]string{"--encoding", "xml"}, "--encoding"},
		{[]string{"--reference", "Redis:fast:1"}, "--reference"},
		{[]string{"--reference", "Redis:100"}, "--reference"},
		{[]string{"--duration", "soon"}, "duration"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"/tmp/x/chatbench", "--quick", "--chatstated-args", "--log-level error"})
	if got != `chatbench --quick --chatstated-args "--log-level error"` {
		t.Fatalf("commandLine = %s", got)
	}
}
