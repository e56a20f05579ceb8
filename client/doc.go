// Package client is the Go client of chatstate for programs that use
// fasthttp. It makes a three-node cluster feel like one reliable server:
//
//	c, err := client.New(client.Config{
//		Addrs: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"},
//		Token: os.Getenv("CHATSTATE_TOKEN"),
//	})
//	if err != nil { ... }
//	defer c.Close()
//	chat, err := c.CreateChat(ctx, "acme", client.CreateChatRequest{
//		Contact: client.Contact{Type: client.ContactTypeVisitor},
//		Source:  client.SourceLandingPage,
//		Text:    "Hi, where is my order?",
//	})
//	if errors.Is(err, client.ErrNotFound) { ... }
//
// # What it does for you
//
// Leader. Writes and leader reads go to the leader. The client follows a
// follower's 307 (method, body and idempotency key kept) to the address
// in Location or X-Leader, caches that node as the leader and sends later
// calls straight to it, until a node says otherwise (a redirect, a 503,
// a lost connection). Addresses named by redirects join those the client
// tries; Discover adds every member listed by /v1/status, so one seed
// address is enough.
//
// Retries. A call is retried, with exponential backoff and jitter (at
// least the server's Retry-After), on 503 no_leader, leadership_lost and
// shutting_down, on a write's 504 timeout, and on connection errors, which
// also move it to the next address. Retries stop at the call's deadline:
// the context's, or Config.Timeout when the context has none. One HTTP
// exchange is bounded by Config.AttemptTimeout, so a node that hangs is
// given up for another within the deadline.
//
// Idempotency. Every write carries an Idempotency-Key: a random one per
// call (crypto/rand), or yours from WithIdempotencyKey or
// ContextWithIdempotencyKey. Every retry of a write, the client's own and
// the one fasthttp makes on a dead pooled connection, carries the same
// key, so the cluster applies it once and answers the others with the
// first outcome (Meta.Replayed). A write sent WithoutIdempotencyKey is
// never re-sent after it may have reached a server: its error is
// returned.
//
// Errors. An error answer is an *Error with the HTTP status and the API's
// code, message and field; errors.Is matches it against ErrChatClosed,
// ErrNotFound, ErrInvalidField and the other sentinels by code. When a
// call gives up at its deadline, its error matches both
// context.DeadlineExceeded and the last answer (say ErrNoLeader).
//
// Reads. Reads use Config.Consistency (the server's default, leader,
// when empty) or WithConsistency per call. WithMinIndex(Meta.Index of a
// write) with ConsistencyStale reads your own writes from any node.
// ListChatsAll, MessagesAll and NotificationsAll iterate over every page.
//
// Events. Subscribe streams an account's events (Server-Sent Events) to a
// handler. It reconnects after any disconnect, trying the other nodes,
// and resumes after the last event delivered; a stream silent for longer
// than Config.EventIdleTimeout (2.5 server pings) is deemed dead. When the
// cluster no longer has the events to resume from (410 compacted), it
// calls EventsRequest.OnCompacted to let you reload, then continues with
// the events that follow.
//
// # Connections
//
// Each node gets a fasthttp.HostClient (never a PipelineClient, whose
// head-of-line blocking distorts latency) for ordinary calls and one
// without a read timeout for streamed answers (events, backups), whose
// connections instead fail a read that waits longer than
// EventIdleTimeout. Idle connections close after
// Config.MaxIdleConnDuration (5 s), below the server's idle timeout (90
// s), so that a request never meets a connection the server has just
// closed. fasthttp's own retry on a dead connection is limited to
// requests that can be delivered twice safely: reads, and writes with an
// Idempotency-Key.
//
// A Client keeps up to 128 finished responses, each with its body buffer
// (up to 256 KB), for its next calls, so that reading a page does not
// allocate and clear a buffer for it each time.
//
// # Encodings
//
// Config.Encoding picks JSON (the default) or MessagePack for bodies;
// MessagePack is smaller and far cheaper to decode: the client reads the
// records of MessagePack answers (chats, pages, transcripts, inboxes,
// counts, operators, accounts) with its own reader, without reflection,
// in a few allocations per answer (a 50-chat page: 6 allocations and
// about 7 times less CPU than encoding/json reading the same page in
// JSON). The records of one such answer share memory: their strings, and
// the targets of their pointers, are cut from a few chunks of a few
// kilobytes each, which stay alive while any of them is kept. Times are
// time.Time in UTC, parsed from the API's RFC 3339 strings in both
// encodings; fields the API may send as null are pointers. Members the
// client does not know are skipped, in both encodings. JSON request bodies are written
// by the client so that text that is not valid UTF-8 reaches the server
// unchanged and gets its 400 bad_request, as in MessagePack, instead of
// being silently altered.
//
// # Measured
//
// The client's overhead over a hand-built fasthttp request (a bare
// HostClient, the same request and the same decoding) against an
// in-process fasthttp node on loopback, at the median, measured on a
// loaded two-core machine: 2 to 3% for a chat read in JSON, about 4% in
// MessagePack, 5 to 7% for a write (which adds an idempotency key from
// crypto/rand and the body's encoding). BenchmarkOverhead
// alternates the two op by op so that noise falls on both alike:
//
//	go test -run '^$' -bench Overhead -benchtime 20000x -count 3 ./client/
//
// Decoding a 50-chat list page as the server writes it, and the whole
// call for one against an in-process node, with their allocations:
//
//	go test -run '^$' -bench 'DecodeChatPage|ListChats' -benchmem ./client/
package client
