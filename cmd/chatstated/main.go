// Command chatstated runs one node of a chatstate cluster: the Raft node,
// its stores and the HTTP API. `chatstated --help` lists the flags and the
// environment variables they read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	opts, err := parseOptions(os.Args[1:], lookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatstated:", err)
		os.Exit(2)
	}
	logger := newLogger(opts)
	if err := run(opts, logger); err != nil {
		logger.Error("chatstated failed", "err", err)
		os.Exit(1)
	}
}

// run serves until SIGINT or SIGTERM, then shuts down gracefully.
func run(opts options, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := start(ctx, opts, logger)
	if err != nil {
		return err
	}
	waitErr := s.wait(ctx)
	stop() // a second signal now kills the process the default way
	logger.Info("shutting down")
	return errors.Join(waitErr, s.shutdown(opts.ShutdownTimeout))
}

func newLogger(opts options) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(opts.LogLevel)) // validated by parseOptions
	hopts := &slog.HandlerOptions{Level: level}
	if opts.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, hopts))
}
