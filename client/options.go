package client

import (
	"context"
	"time"
)

// Option adjusts one call.
type Option func(*callOptions)

type callOptions struct {
	idempotencyKey   string
	noIdempotencyKey bool
	consistency      Consistency
	minIndex         uint64
	wait             time.Duration
	waitSet          bool
	meta             *Meta
	addr             string
	requestID        string
}

// Meta receives what a call's answer said besides its body. Pass one with
// WithMeta.
type Meta struct {
	// Status is the HTTP status of the final answer (201 when an upsert
	// created its record, 200 when it updated it).
	Status int
	// Index is the answer's X-Index: the Raft log index at which a write
	// was applied, or what a stale read's node had applied. Zero when
	// absent.
	Index uint64
	// Replayed is true when the cluster answered from its idempotency
	// table: the write had already been applied by an earlier attempt.
	Replayed bool
	// IdempotencyKey is the key the write carried ("" for reads).
	IdempotencyKey string
	// Node is the address of the node that gave the final answer.
	Node string
	// Attempts counts the HTTP exchanges the call made, redirects
	// included.
	Attempts int
}

// WithIdempotencyKey sets a write's Idempotency-Key (1 to 128 printable
// ASCII characters). Without it the client generates a random key per
// call; give your own to make a write idempotent across calls or
// processes, for example when a job may run twice.
func WithIdempotencyKey(key string) Option {
	return func(o *callOptions) { o.idempotencyKey = key }
}

// WithoutIdempotencyKey sends a write without a key. The client then
// never re-sends it: a lost connection or a 503 is returned to the caller
// as is, since the write may or may not have been applied. Redirects to
// the leader are still followed (the follower applied nothing).
func WithoutIdempotencyKey() Option {
	return func(o *callOptions) { o.noIdempotencyKey = true }
}

type idempotencyKeyCtx struct{}

// ContextWithIdempotencyKey returns a context whose writes carry key, for
// code that cannot pass options down. WithIdempotencyKey takes
// precedence.
func ContextWithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// WithConsistency sets a read's consistency, overriding
// Config.Consistency. Stale reads are spread over every known node in
// turn; the others go to the leader.
func WithConsistency(c Consistency) Option {
	return func(o *callOptions) { o.consistency = c }
}

// WithMinIndex makes the node answering a read wait until it has applied
// log index index (from Meta.Index of an earlier write), for up to wait
// (0 means the server's default of 5 s; the API's range is 0 to 60 s).
// With ConsistencyStale it gives read-your-writes from any node.
func WithMinIndex(index uint64, wait time.Duration) Option {
	return func(o *callOptions) {
		o.minIndex = index
		if wait > 0 {
			o.wait, o.waitSet = wait, true
		}
	}
}

// WithMeta fills m with the answer's status, X-Index, replay flag,
// idempotency key and node.
func WithMeta(m *Meta) Option {
	return func(o *callOptions) { o.meta = m }
}

// OnNode sends the call to the node at addr (host:port) instead of the
// leader. Use it for the per-node endpoints (Status, Health, Ready) or a
// stale read from a given node. Redirects are still followed.
func OnNode(addr string) Option {
	return func(o *callOptions) { o.addr = addr }
}

// WithRequestID sends X-Request-Id (1 to 128 printable ASCII characters),
// which the server logs and, for writes, records in the command, so that
// a call can be followed through the cluster's logs.
func WithRequestID(id string) Option {
	return func(o *callOptions) { o.requestID = id }
}
