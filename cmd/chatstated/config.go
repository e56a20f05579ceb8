package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// options are chatstated's settings, from flags with environment
// fallbacks: a flag given on the command line wins over its variable.
type options struct {
	ID              string
	Data            string
	HTTP            string
	Raft            string
	AdvertiseHTTP   string
	AdvertiseRaft   string
	Join            []string
	AdminToken      string
	Insecure        bool
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	RaftTuning      raftTuning
	// Pprof, when set, is where Go's net/http/pprof handlers are served
	// (for profiling under load, e.g. by chatbench --profile).
	Pprof string
	// HeapHugePages asks Linux for transparent huge pages for the heap
	// (node.Config.HeapHugePages).
	HeapHugePages bool
}

// raftTuning overrides Raft's timing and log compaction. Zero keeps the
// node's default (Raft's own: 1s heartbeat and election timeouts, a
// snapshot every 8192 entries keeping 10240 behind it). Production keeps
// the defaults; tests and local experiments shorten them to make elections
// and snapshots happen within a test's time.
type raftTuning struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	SnapshotCPUShare   float64
}

// advancedUsage marks the usage text of flags that --help lists apart,
// under "Advanced Raft tuning".
const advancedUsage = "advanced: "

// envPrefix is the prefix of every environment variable chatstated reads.
const envPrefix = "CHATSTATE_"

// envName maps a flag name to its environment variable: --admin-token
// reads CHATSTATE_ADMIN_TOKEN.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseOptions parses args (without the program name) against the
// environment lookup env. It returns flag.ErrHelp for --help.
func parseOptions(args []string, env func(string) (string, bool), usageOut io.Writer) (options, error) {
	var o options
	var join string
	fs := flag.NewFlagSet("chatstated", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.StringVar(&o.ID, "id", "n1", "this node's id, unique in the cluster")
	fs.StringVar(&o.Data, "data", "./data/n1", "data directory (raft.db, snapshots.db)")
	fs.StringVar(&o.HTTP, "http", "127.0.0.1:8080", "HTTP API listen address")
	fs.StringVar(&o.Raft, "raft", "127.0.0.1:8089", "Raft listen address")
	fs.StringVar(&o.AdvertiseHTTP, "advertise-http", "", "HTTP address other nodes and clients use to reach this node (default: --http)")
	fs.StringVar(&o.AdvertiseRaft, "advertise-raft", "", "Raft address other nodes use to reach this node (default: --raft)")
	fs.StringVar(&join, "join", "", "comma-separated HTTP addresses of cluster members to join (ignored once the node has data)")
	fs.StringVar(&o.AdminToken, "admin-token", "", "admin bearer token; enables authentication")
	fs.BoolVar(&o.Insecure, "insecure", false, "allow listening on a non-loopback address without an admin token")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 25*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&o.Pprof, "pprof", "", "serve Go's profiling endpoints (/debug/pprof/) on this address; off when empty")
	fs.BoolVar(&o.HeapHugePages, "heap-huge-pages", true, "ask Linux to back the heap with transparent huge pages, which makes restarts and writes faster on large states at the cost of some memory (see docs/OPERATIONS.md)")
	rt := &o.RaftTuning
	fs.DurationVar(&rt.HeartbeatTimeout, "raft-heartbeat-timeout", 0, advancedUsage+"how long a follower waits for the leader before starting an election (0: 1s)")
	fs.DurationVar(&rt.ElectionTimeout, "raft-election-timeout", 0, advancedUsage+"how long a candidate waits for votes (0: 1s)")
	fs.DurationVar(&rt.LeaderLeaseTimeout, "raft-leader-lease-timeout", 0, advancedUsage+"how long a leader stays leader without reaching a quorum; at most the heartbeat timeout (0: 500ms or the heartbeat timeout)")
	fs.DurationVar(&rt.CommitTimeout, "raft-commit-timeout", 0, advancedUsage+"longest pause between log replication rounds when idle (0: 50ms)")
	fs.DurationVar(&rt.SnapshotInterval, "raft-snapshot-interval", 0, advancedUsage+"how often the node checks whether to snapshot (0: 120s)")
	fs.Uint64Var(&rt.SnapshotThreshold, "raft-snapshot-threshold", 0, advancedUsage+"snapshot once this many log entries are past the last snapshot (0: 8192)")
	fs.Uint64Var(&rt.TrailingLogs, "raft-trailing-logs", 0, advancedUsage+"log entries kept behind a snapshot for followers that lag (0: 10240)")
	fs.Float64Var(&rt.SnapshotCPUShare, "snapshot-cpu-share", 0, advancedUsage+"share of each core a snapshot's encoders use while writes apply, above 0 and at most 1; lower keeps write latency flatter during a snapshot, which then takes longer (0: 0.1)")
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: chatstated [flags]\n\nchatstated serves the chatstate HTTP API from one node of a Raft cluster.\nEvery flag also reads an environment variable; a flag on the command line wins.\n\n")
		// Advanced flags go last, under their own heading.
		for _, advanced := range []bool{false, true} {
			if advanced {
				fmt.Fprintf(usageOut, "\nAdvanced Raft tuning (keep the defaults in production; see docs/OPERATIONS.md):\n\n")
			}
			fs.VisitAll(func(f *flag.Flag) {
				usage, isAdvanced := strings.CutPrefix(f.Usage, advancedUsage)
				if isAdvanced != advanced {
					return
				}
				def := ""
				if f.DefValue != "" && !isAdvanced {
					def = fmt.Sprintf(" (default %q)", f.DefValue)
				}
				fmt.Fprintf(usageOut, "  --%s  [%s]\n        %s%s\n", f.Name, envName(f.Name), usage, def)
			})
		}
	}

	// Environment first, so that command-line flags override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := env(envName(f.Name)); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, a := range strings.Split(join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Join = append(o.Join, a)
		}
	}
	if share := o.RaftTuning.SnapshotCPUShare; share < 0 || share > 1 {
		return o, fmt.Errorf("--snapshot-cpu-share %v: must be above 0 and at most 1 (0 for the default)", share)
	}
	if o.AdvertiseHTTP == "" {
		o.AdvertiseHTTP = o.HTTP
	}
	if o.AdvertiseRaft == "" {
		o.AdvertiseRaft = o.Raft
	}
	return o, o.validate()
}

func (o options) validate() error {
	var errs []error
	if o.ID == "" {
		errs = append(errs, errors.New("--id must not be empty"))
	}
	if o.Data == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if rt := o.RaftTuning; rt.HeartbeatTimeout < 0 || rt.ElectionTimeout < 0 || rt.LeaderLeaseTimeout < 0 || rt.CommitTimeout < 0 || rt.SnapshotInterval < 0 {
		errs = append(errs, errors.New("--raft-* durations must not be negative"))
	} else if hb := rt.HeartbeatTimeout; hb > 0 && rt.LeaderLeaseTimeout > hb {
		errs = append(errs, fmt.Errorf("--raft-leader-lease-timeout %s must not exceed --raft-heartbeat-timeout %s", rt.LeaderLeaseTimeout, hb))
	}
	listeners := []struct{ flag, addr string }{{"--http", o.HTTP}, {"--raft", o.Raft}}
	if o.Pprof != "" {
		// Profiles show the process's internals: the same rule as the API.
		listeners = append(listeners, struct{ flag, addr string }{"--pprof", o.Pprof})
	}
	for _, l := range listeners {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", l.flag, l.addr, err))
		}
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.LogLevel))
	}
	switch o.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", o.LogFormat))
	}
	if !o.Insecure && o.AdminToken == "" {
		for _, l := range listeners {
			if !isLoopback(l.addr) {
				errs = append(errs, fmt.Errorf("%s %s is not a loopback address: set --admin-token, or --insecure to run without authentication", l.flag, l.addr))
			}
		}
	}
	return errors.Join(errs...)
}

// isLoopback reports whether addr listens only on the loopback interface.
// An empty host ("":8080) listens on every interface, so it is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lookupEnv is os.LookupEnv; parseOptions takes it as a parameter so that
// tests need not touch the process environment.
func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }
