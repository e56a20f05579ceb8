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
}

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
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: chatstated [flags]\n\nchatstated serves the chatstate HTTP API from one node of a Raft cluster.\nEvery flag also reads an environment variable; a flag on the command line wins.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(usageOut, "  --%s  [%s]\n        %s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
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
	listeners := [...]struct{ flag, addr string }{{"--http", o.HTTP}, {"--raft", o.Raft}}
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
