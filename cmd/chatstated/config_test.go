package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, o options)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, o options) {
				if o.ID != "n1" || o.Data != "./data/n1" || o.HTTP != "127.0.0.1:8080" || o.Raft != "127.0.0.1:8089" {
					t.Fatalf("defaults: %+v", o)
				}
				if o.AdvertiseHTTP != o.HTTP || o.AdvertiseRaft != o.Raft || len(o.Join) != 0 {
					t.Fatalf("advertise/join defaults: %+v", o)
				}
			},
		},
		{
			name: "environment fallback",
			env:  map[string]string{"CHATSTATE_ID": "n2", "CHATSTATE_JOIN": "127.0.0.1:8080, 127.0.0.1:8081", "CHATSTATE_ADMIN_TOKEN": "s3cret"},
			check: func(t *testing.T, o options) {
				if o.ID != "n2" || o.AdminToken != "s3cret" {
					t.Fatalf("env not read: %+v", o)
				}
				if strings.Join(o.Join, "|") != "127.0.0.1:8080|127.0.0.1:8081" {
					t.Fatalf("join = %q", o.Join)
				}
			},
		},
		{
			name: "flag wins over environment",
			args: []string{"--id", "n3"},
			env:  map[string]string{"CHATSTATE_ID": "n2"},
			check: func(t *testing.T, o options) {
				if o.ID != "n3" {
					t.Fatalf("id = %q, want the flag's n3", o.ID)
				}
			},
		},
		{
			name: "raft tuning from flags and environment",
			args: []string{"--raft-heartbeat-timeout", "150ms", "--raft-election-timeout", "200ms", "--raft-snapshot-threshold", "64"},
			env: map[string]string{
				"CHATSTATE_RAFT_TRAILING_LOGS": "16", "CHATSTATE_RAFT_LEADER_LEASE_TIMEOUT": "100ms",
				"CHATSTATE_RAFT_COMMIT_TIMEOUT": "5ms", "CHATSTATE_RAFT_SNAPSHOT_INTERVAL": "1s",
				"CHATSTATE_RAFT_ELECTION_TIMEOUT": "9s", // the flag wins
				"CHATSTATE_SNAPSHOT_CPU_SHARE":    "0.25",
			},
			check: func(t *testing.T, o options) {
				want := raftTuning{
					HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
					LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
					SnapshotInterval: time.Second, SnapshotThreshold: 64, TrailingLogs: 16,
					SnapshotCPUShare: 0.25,
				}
				if o.RaftTuning != want {
					t.Fatalf("raft tuning = %+v, want %+v", o.RaftTuning, want)
				}
			},
		},
		{
			name: "raft tuning defaults to zero (the node's defaults)",
			check: func(t *testing.T, o options) {
				if o.RaftTuning != (raftTuning{}) {
					t.Fatalf("raft tuning = %+v, want zero", o.RaftTuning)
				}
			},
		},
		{name: "negative raft timeout", args: []string{"--raft-heartbeat-timeout", "-1s"}, wantErr: "must not be negative"},
		{name: "lease beyond heartbeat", args: []string{"--raft-heartbeat-timeout", "100ms", "--raft-leader-lease-timeout", "200ms"}, wantErr: "--raft-leader-lease-timeout"},
		{name: "bad snapshot threshold", env: map[string]string{"CHATSTATE_RAFT_SNAPSHOT_THRESHOLD": "-3"}, wantErr: "CHATSTATE_RAFT_SNAPSHOT_THRESHOLD"},
		{name: "bad env value", env: map[string]string{"CHATSTATE_INSECURE": "maybe"}, wantErr: "CHATSTATE_INSECURE"},
		{name: "snapshot CPU share above 1", args: []string{"--snapshot-cpu-share", "1.5"}, wantErr: "--snapshot-cpu-share"},
		{name: "non-loopback without token", args: []string{"--http", "0.0.0.0:8080"}, wantErr: "not a loopback address"},
		{name: "non-loopback with insecure", args: []string{"--http", "0.0.0.0:8080", "--insecure"}},
		{name: "non-loopback with token", args: []string{"--http", "10.0.0.1:8080", "--admin-token", "t"}},
		{name: "bad address", args: []string{"--raft", "nowhere"}, wantErr: "--raft"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, envOf(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestHelpListsEnvironmentVariables(t *testing.T) {
	var out strings.Builder
	_, err := parseOptions([]string{"--help"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--id", "CHATSTATE_ID", "CHATSTATE_DATA", "CHATSTATE_HTTP", "CHATSTATE_RAFT", "CHATSTATE_JOIN", "CHATSTATE_ADMIN_TOKEN",
		"Advanced Raft tuning", "--raft-heartbeat-timeout", "CHATSTATE_RAFT_ELECTION_TIMEOUT", "CHATSTATE_RAFT_SNAPSHOT_THRESHOLD", "CHATSTATE_RAFT_TRAILING_LOGS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %s:\n%s", want, out.String())
		}
	}
}
