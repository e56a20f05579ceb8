package snapstore

import "errors"

// The errors this package returns, wrapped with context; match them with
// errors.Is.
var (
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("invalid config")

	// ErrLocked means another process (or another Store in this process)
	// holds the file, and its lock was not released within
	// Config.LockTimeout.
	ErrLocked = errors.New("file is locked by another store")

	// ErrUnsupportedFormat means the file is a BoltDB file that this package
	// did not write, or wrote in a format version it does not know.
	ErrUnsupportedFormat = errors.New("unsupported file format")

	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("store is closed")

	// ErrUnsupportedVersion means Create was asked for a raft snapshot
	// version other than 1, the only one this store writes (as
	// raft.FileSnapshotStore).
	ErrUnsupportedVersion = errors.New("unsupported snapshot version")

	// ErrNotFound means no complete snapshot has the requested id.
	ErrNotFound = errors.New("snapshot not found")

	// ErrChecksumMismatch means the data read back does not match the
	// CRC-64 or the size recorded when the snapshot was written.
	ErrChecksumMismatch = errors.New("snapshot checksum mismatch")

	// ErrCorrupt means the file's structure is damaged: a chunk or a
	// bucket is missing, or a metadata record does not decode.
	ErrCorrupt = errors.New("snapshot store is corrupt")

	// ErrSinkClosed means Write was called on a sink after Close or Cancel.
	ErrSinkClosed = errors.New("snapshot sink is closed")

	// ErrReaderClosed means Read was called on a snapshot reader after
	// Close.
	ErrReaderClosed = errors.New("snapshot reader is closed")
)
