package snapstore

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// maxChunkSize bounds Config.ChunkSize. BoltDB refuses values of 2 GiB and
// more; far below that a chunk only costs memory without saving commits.
const maxChunkSize = 1 << 30

// Config tunes a Store. Start from DefaultConfig.
type Config struct {
	// Retain is how many complete snapshots are kept; older ones are
	// deleted after each successful sink Close. At least 1.
	Retain int

	// ChunkSize is how many bytes a sink buffers before committing them as
	// one chunk in one write transaction (one pair of fdatasyncs). It is
	// also the memory a sink and a reader hold. 1 byte to 1 GiB.
	ChunkSize int

	// LockTimeout is how long Open waits for the file lock that keeps two
	// stores from sharing a file. Zero waits forever.
	LockTimeout time.Duration

	// FileMode is the permission of the file when Open creates it; zero
	// means 0o600.
	FileMode os.FileMode

	// Logger receives what the store does (snapshots created, reaped,
	// discarded after a crash) and failures. Nil discards.
	Logger *slog.Logger
}

// DefaultConfig keeps the newest two snapshots, writes 1 MiB chunks and
// gives up on a locked file after one second.
func DefaultConfig() Config {
	return Config{
		Retain:      2,
		ChunkSize:   1 << 20,
		LockTimeout: time.Second,
		FileMode:    0o600,
	}
}

func (c Config) validate() error {
	if c.Retain < 1 {
		return fmt.Errorf("snapstore: %w: Retain is %d, must be at least 1", ErrInvalidConfig, c.Retain)
	}
	if c.ChunkSize < 1 || c.ChunkSize > maxChunkSize {
		return fmt.Errorf("snapstore: %w: ChunkSize is %d, must be from 1 to %d", ErrInvalidConfig, c.ChunkSize, maxChunkSize)
	}
	if c.LockTimeout < 0 {
		return fmt.Errorf("snapstore: %w: LockTimeout is %v, must not be negative", ErrInvalidConfig, c.LockTimeout)
	}
	return nil
}
