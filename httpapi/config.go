package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the HTTP API's configuration. Start from DefaultConfig.
type Config struct {
	// MaxBodyBytes bounds a request body (413 beyond), except restore's.
	MaxBodyBytes int
	// MaxRestoreBytes bounds the body of POST /v1/cluster/restore, which
	// is streamed to the backend rather than held in memory.
	MaxRestoreBytes int64
	// MaxTextBytes bounds a message's text (at least 1 byte).
	MaxTextBytes int
	// MaxNameBytes bounds names and emails.
	MaxNameBytes int
	// DefaultListLimit and MaxListLimit: a page's size when limit is not
	// given, and the largest accepted limit.
	DefaultListLimit int
	MaxListLimit     int
	// ApplyTimeout bounds how long a write (and a leader check for a read)
	// may take before the answer is 504 timeout.
	ApplyTimeout time.Duration
	// DefaultWait and MaxWait: min_index's default and largest wait.
	DefaultWait time.Duration
	MaxWait     time.Duration
	// AdminToken turns authentication on when not empty (see API.md).
	AdminToken string
	// Connection timeouts. WriteTimeout does not apply to event streams
	// and backups.
	IdleTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// SSEPingInterval is how often an idle event stream gets a ": ping"
	// comment; a client that went away is noticed at the next one.
	SSEPingInterval time.Duration
	// Logger receives errors answered 500, recovered panics and server
	// errors. nil discards them.
	Logger *slog.Logger
	// Registry receives the API's metrics and is what /metrics serves;
	// the node registers its own collectors in it too. nil makes a new one.
	Registry *prometheus.Registry
	// ServerName is the Server header.
	ServerName string
	// ChatRenderCache is the number of rendered chat versions kept per
	// encoding for reads (lists, single chats and event streams); 0 turns
	// the cache off.
	// A rendered chat is about half a kilobyte.
	ChatRenderCache int
}

// DefaultConfig returns the API's documented limits.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:     1 << 20,
		MaxRestoreBytes:  16 << 30,
		MaxTextBytes:     16384,
		MaxNameBytes:     256,
		DefaultListLimit: 50,
		MaxListLimit:     500,
		ApplyTimeout:     10 * time.Second,
		DefaultWait:      5 * time.Second,
		MaxWait:          60 * time.Second,
		IdleTimeout:      90 * time.Second,
		ReadTimeout:      30 * time.Second,
		WriteTimeout:     30 * time.Second,
		SSEPingInterval:  15 * time.Second,
		ServerName:       "chatstate",
		ChatRenderCache:  16384,
	}
}

// ErrInvalidConfig is wrapped by New for a Config it cannot use.
var ErrInvalidConfig = errors.New("httpapi: invalid config")

func (c *Config) validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("%w: MaxBodyBytes must be positive", ErrInvalidConfig)
	case c.MaxRestoreBytes <= 0:
		return fmt.Errorf("%w: MaxRestoreBytes must be positive", ErrInvalidConfig)
	case c.MaxTextBytes <= 0 || c.MaxNameBytes <= 0:
		return fmt.Errorf("%w: MaxTextBytes and MaxNameBytes must be positive", ErrInvalidConfig)
	case c.MaxListLimit <= 0 || c.DefaultListLimit <= 0 || c.DefaultListLimit > c.MaxListLimit:
		return fmt.Errorf("%w: need 0 < DefaultListLimit <= MaxListLimit", ErrInvalidConfig)
	case c.ApplyTimeout <= 0:
		return fmt.Errorf("%w: ApplyTimeout must be positive", ErrInvalidConfig)
	case c.DefaultWait < 0 || c.MaxWait < c.DefaultWait:
		return fmt.Errorf("%w: need 0 <= DefaultWait <= MaxWait", ErrInvalidConfig)
	case c.ChatRenderCache < 0:
		return fmt.Errorf("%w: ChatRenderCache must be 0 (off) or more", ErrInvalidConfig)
	case c.SSEPingInterval <= 0:
		return fmt.Errorf("%w: SSEPingInterval must be positive", ErrInvalidConfig)
	}
	return nil
}
