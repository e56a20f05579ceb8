package node

import (
	"errors"
	"fmt"
)

// Error is a node-level failure with the HTTP API's error code. Callers
// that must not import node (httpapi) match it through an interface:
//
//	var coded interface{ ErrorCode() string }
//	if errors.As(err, &coded) { ... coded.ErrorCode() ... }
type Error struct {
	code    string
	message string
}

func (e *Error) Error() string { return e.message }

// ErrorCode returns the API's error code: "leadership_lost",
// "shutting_down", "timeout" or "not_leader".
func (e *Error) ErrorCode() string { return e.code }

// Sentinel errors. Every error returned by a Node that has one of these
// meanings matches it with errors.Is.
var (
	// ErrNotLeader: this node is not the leader. The error returned is a
	// *NotLeaderError that names the leader when one is known.
	ErrNotLeader = &Error{code: "not_leader", message: "node: not the leader"}
	// ErrLeadershipLost: leadership was lost while a write was in flight;
	// its outcome is unknown (it may still commit). Retry with the same
	// idempotency key.
	ErrLeadershipLost = &Error{code: "leadership_lost", message: "node: leadership lost while the write was in flight; its outcome is unknown"}
	// ErrShuttingDown: the node is closing (or closed) and takes no new work.
	ErrShuttingDown = &Error{code: "shutting_down", message: "node: shutting down"}
	// ErrTimeout: the deadline passed before the write committed or before
	// the node applied the awaited index. A write's outcome is unknown.
	ErrTimeout = &Error{code: "timeout", message: "node: timed out"}
)

// LeaderInfo identifies the cluster's leader as this node knows it. HTTP is
// "" while the leader's HTTP address is not yet in the replicated state.
type LeaderInfo struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
}

// NotLeaderError is returned for work that only the leader may do. It
// matches ErrNotLeader with errors.Is. Leader is the zero value when no
// leader is known.
type NotLeaderError struct {
	Leader LeaderInfo
}

func (e *NotLeaderError) Error() string {
	if e.Leader.ID == "" {
		return "node: not the leader, and no leader is known"
	}
	if e.Leader.HTTP == "" {
		return fmt.Sprintf("node: not the leader; the leader is %s at %s (HTTP address not known yet)", e.Leader.ID, e.Leader.Raft)
	}
	return fmt.Sprintf("node: not the leader; the leader is %s at %s", e.Leader.ID, e.Leader.HTTP)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// ErrorCode returns "not_leader". The HTTP layer answers 503 no_leader
// when LeaderHTTP is "", and a redirect otherwise.
func (e *NotLeaderError) ErrorCode() string { return ErrNotLeader.code }

// LeaderHTTP returns the leader's HTTP address, "" when unknown.
func (e *NotLeaderError) LeaderHTTP() string { return e.Leader.HTTP }

// ErrInvalidBackup is returned by Restore for a body that is not a backup
// this version can load; the cluster's state is left unchanged.
var ErrInvalidBackup = errors.New("node: invalid backup")
