package client

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Error is an error answer of the API: its HTTP status and the body's
// code, message and field. errors.Is matches it against the sentinels
// below by code, so
//
//	if errors.Is(err, client.ErrChatClosed) { ... }
//
// works whatever wrapped it; errors.As gives the status and message.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code, such as "chat_closed". When the body
	// was not an API error (a proxy's answer, say), it is derived from
	// Status.
	Code string
	// Message says what is wrong, in the server's words.
	Message string
	// Field names the offending field, parameter, path segment or header
	// for invalid_field; empty otherwise.
	Field string
	// RetryAfter is the server's Retry-After (503 answers), zero when
	// absent.
	RetryAfter time.Duration
	// Index is the answer's X-Index: set when the write reached the log
	// (404 and 409 decided by the state); zero otherwise.
	Index uint64
}

func (e *Error) Error() string {
	msg := "chatstate: " + strconv.Itoa(e.Status) + " " + e.Code
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is reports whether target is an *Error with the same code. A target with
// a Field matches only that field, so callers can build their own
// sentinels, e.g. &client.Error{Code: "invalid_field", Field: "limit"}.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Code != e.Code {
		return false
	}
	return t.Field == "" || t.Field == e.Field
}

// The API's error codes as sentinels for errors.Is.
var (
	ErrBadRequest           = &Error{Status: 400, Code: "bad_request"}
	ErrInvalidField         = &Error{Status: 400, Code: "invalid_field"}
	ErrUnauthorized         = &Error{Status: 401, Code: "unauthorized"}
	ErrForbidden            = &Error{Status: 403, Code: "forbidden"}
	ErrNotFound             = &Error{Status: 404, Code: "not_found"}
	ErrMethodNotAllowed     = &Error{Status: 405, Code: "method_not_allowed"}
	ErrChatClosed           = &Error{Status: 409, Code: "chat_closed"}
	ErrChatUnassigned       = &Error{Status: 409, Code: "chat_unassigned"}
	ErrNotParticipant       = &Error{Status: 409, Code: "not_participant"}
	ErrAlreadyAssigned      = &Error{Status: 409, Code: "already_assigned"}
	ErrIdempotencyKeyReused = &Error{Status: 409, Code: "idempotency_key_reused"}
	ErrCompacted            = &Error{Status: 410, Code: "compacted"}
	ErrPayloadTooLarge      = &Error{Status: 413, Code: "payload_too_large"}
	ErrUnsupportedMediaType = &Error{Status: 415, Code: "unsupported_media_type"}
	ErrInternal             = &Error{Status: 500, Code: "internal"}
	ErrNoLeader             = &Error{Status: 503, Code: "no_leader"}
	ErrLeadershipLost       = &Error{Status: 503, Code: "leadership_lost"}
	ErrShuttingDown         = &Error{Status: 503, Code: "shutting_down"}
	ErrUnavailable          = &Error{Status: 503, Code: "unavailable"}
	ErrTimeout              = &Error{Status: 504, Code: "timeout"}
)

// Errors of the client itself.
var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("chatstate client: closed")
	// ErrInvalidConfig is wrapped by New for a Config it cannot use.
	ErrInvalidConfig = errors.New("chatstate client: invalid config")
	// ErrTooManyRedirects means the nodes kept redirecting one request
	// (during an election they may point at each other for a moment).
	ErrTooManyRedirects = errors.New("chatstate client: too many redirects")
	// ErrBadRedirect means a 307 carried neither a usable Location nor
	// X-Leader.
	ErrBadRedirect = errors.New("chatstate client: redirect without a usable Location or X-Leader")
	// ErrStreamStalled means an event stream sent nothing, not even a
	// ping, for longer than Config.EventIdleTimeout.
	ErrStreamStalled = errors.New("chatstate client: event stream stalled (no data or ping)")
	// ErrUnexpectedResponse means an answer did not fit the API (a status
	// or body the contract does not allow).
	ErrUnexpectedResponse = errors.New("chatstate client: unexpected response")
)

// codeForStatus names the error of an answer whose body is not an API
// error, so that errors.Is still works on the status.
func codeForStatus(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 405:
		return "method_not_allowed"
	case 410:
		return "compacted"
	case 413:
		return "payload_too_large"
	case 415:
		return "unsupported_media_type"
	case 503:
		return "unavailable"
	case 504:
		return "timeout"
	}
	if status >= 500 {
		return "internal"
	}
	return "http_" + strconv.Itoa(status)
}

// gaveUpError is returned when a call stops retrying: its deadline came
// (or its context ended) before an attempt succeeded. It unwraps to both
// the context's error and the last attempt's error, so errors.Is works
// with context.DeadlineExceeded and with, say, ErrNoLeader.
type gaveUpError struct {
	op       string
	attempts int
	cause    error // context or deadline error
	last     error // the last attempt's error, may be nil
}

func (e *gaveUpError) Error() string {
	if e.last == nil {
		return fmt.Sprintf("chatstate client: %s: %v", e.op, e.cause)
	}
	return fmt.Sprintf("chatstate client: %s: gave up after %d attempts (%v): %v", e.op, e.attempts, e.cause, e.last)
}

func (e *gaveUpError) Unwrap() []error {
	if e.last == nil {
		return []error{e.cause}
	}
	return []error{e.cause, e.last}
}
