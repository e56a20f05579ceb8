// Package httpapi serves chatstate's HTTP API (see API.md in this
// directory) for one node, with fasthttp.
//
// It decodes and validates requests (JSON or MessagePack, strictly: unknown,
// missing and mistyped fields are refused with the field's name), builds
// commands stamped with the leader's clock, a request id and the caller's
// idempotency key and fingerprint, proposes them through a Backend, and
// renders results, lists and event streams with hand-written, append-style
// encoders (no reflection on the hot path). Every error reaches the wire
// through one function, classify, so that a status and an error code always
// agree.
//
// The package does not import the node: it defines Backend, the small
// interface it needs, and cmd/chatstated adapts the node to it. Reads come
// straight from the state machine's applied state (fsm.FSM) after the
// consistency check the request asked for. Chat versions are immutable, so
// reads keep the rendered bytes of recently read versions in a bounded,
// lock-free cache (Config.ChatRenderCache): the first pages of the lists
// operators reload all day are copied, not rendered again.
//
// Lifecycle: New, then Serve (or ListenAndServe); Shutdown stops accepting,
// ends event streams and waits for requests in flight.
package httpapi
