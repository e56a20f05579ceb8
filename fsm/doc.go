// Package fsm is chatstate's deterministic core: the replicated state machine
// that every node applies the Raft log to.
//
// It holds every account, operator, chat, transcript, participant, unread
// flag, notification inbox, the per-account event window, account keys and
// the idempotency table in memory, and answers every read of the HTTP API
// from indexes kept up to date by Apply.
//
// # Commands
//
// A write is a Command: one type byte (see CommandType; the constants are
// append-only) followed by a MessagePack body. Every command carries a
// Header stamped by the leader before it is proposed: the account, the
// leader's clock time, a request id and, optionally, the caller's
// idempotency key with a fingerprint of the request. Apply never reads a
// clock, never draws a random number and never lets map iteration order reach
// its results, so every node that applies the same log ends in the same
// state, byte for byte (see the determinism tests).
//
// A Batch carries many commands in one log entry; Apply answers with one
// Result per command, in order. A command that breaks a business rule yields
// a Result whose Err is an *Error with the API's code; it changes nothing.
// A log entry that does not decode panics: applying anything else would make
// this node's state diverge from its peers'.
//
// # State and reads
//
// Records (Account, Operator, Chat, Message, Notification, Event) are
// immutable once published: a change builds a new record and swaps it in.
// Callers may keep and read them without locks. Containers are copy-on-write
// B-trees (the list indexes are cell-masked B+trees of this package, see
// listtree.go), so Snapshot is O(1) and Persist streams a frozen view while
// Apply goes on. Reads take a read lock that Apply holds only for the duration of
// one command.
package fsm
