package node

import (
	"context"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// slogLevelTrace is where hclog's Trace lands in slog, below Debug.
const slogLevelTrace = slog.LevelDebug - 4

// hcLogger implements hclog.Logger over a *slog.Logger, so that Raft's
// logs go wherever the node's logs go, as structured records with Raft's
// key-value pairs intact.
type hcLogger struct {
	// base carries the implied arguments; logger adds the name to it.
	base    *slog.Logger
	logger  *slog.Logger
	name    string
	implied []any
	// level is shared by the loggers derived with With and Named, as
	// hclog's SetLevel is.
	level *atomic.Int32
}

var _ hclog.Logger = (*hcLogger)(nil)

// newHCLogger returns an hclog.Logger writing to l (nil: discarded).
func newHCLogger(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	level := new(atomic.Int32)
	level.Store(int32(hclog.Trace))
	return &hcLogger{base: l, logger: l.With("logger", name), name: name, level: level}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slogLevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hcLogger) enabled(level hclog.Level) bool {
	if level == hclog.Off || level < hclog.Level(h.level.Load()) {
		return false
	}
	return h.logger.Enabled(context.Background(), toSlogLevel(level))
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...interface{}) {
	if !h.enabled(level) {
		return
	}
	h.logger.Log(context.Background(), toSlogLevel(level), msg, args...)
}

func (h *hcLogger) Trace(msg string, args ...interface{}) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...interface{}) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...interface{})  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...interface{})  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...interface{}) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []interface{} { return h.implied }

func (h *hcLogger) With(args ...interface{}) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	c.base = h.base.With(args...)
	c.logger = h.logger.With(args...)
	return &c
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	c.logger = h.base.With("logger", name)
	return &c
}

func (h *hcLogger) SetLevel(level hclog.Level) { h.level.Store(int32(level)) }
func (h *hcLogger) GetLevel() hclog.Level      { return hclog.Level(h.level.Load()) }

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = toSlogLevel(opts.ForceLevel)
	}
	return slog.NewLogLogger(h.logger.Handler(), level)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}
