package fsm

import (
	"errors"
	"fmt"
)

// Code is an error code of the HTTP API that the state machine can decide.
type Code string

// The codes the state machine decides. Their HTTP statuses are mapped in
// httpapi, in one place.
const (
	CodeInvalidField         Code = "invalid_field"
	CodeNotFound             Code = "not_found"
	CodeChatClosed           Code = "chat_closed"
	CodeChatUnassigned       Code = "chat_unassigned"
	CodeNotParticipant       Code = "not_participant"
	CodeAlreadyAssigned      Code = "already_assigned"
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	CodeCompacted            Code = "compacted"
)

// Error is a business-rule outcome: a value, never a panic. It is part of a
// Result and of the idempotency table, so it is deterministic and
// serialisable. Match it against the sentinels with errors.Is, which compares
// codes.
type Error struct {
	Code    Code   `msgpack:"c"`
	Field   string `msgpack:"f,omitempty"` // for CodeInvalidField: the field's name
	Message string `msgpack:"m"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return e.Message
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels for errors.Is. Results carry an *Error with the same code and a
// message that names the record concerned.
var (
	ErrInvalidField         = &Error{Code: CodeInvalidField}
	ErrNotFound             = &Error{Code: CodeNotFound}
	ErrChatClosed           = &Error{Code: CodeChatClosed}
	ErrChatUnassigned       = &Error{Code: CodeChatUnassigned}
	ErrNotParticipant       = &Error{Code: CodeNotParticipant}
	ErrAlreadyAssigned      = &Error{Code: CodeAlreadyAssigned}
	ErrIdempotencyKeyReused = &Error{Code: CodeIdempotencyKeyReused}
	ErrCompacted            = &Error{Code: CodeCompacted}
)

// ErrMalformedCommand is returned by DecodeCommand for bytes that are not a
// command. Apply panics on it (see the package doc).
var ErrMalformedCommand = errors.New("fsm: malformed command")

func newError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidField(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidField, Field: field, Message: fmt.Sprintf(format, args...)}
}

// The limits Apply enforces on command fields (API.md, Limits).
const (
	MaxTextBytes = 16 * 1024
	MaxNameBytes = 256
	MaxKeyBytes  = 128 // idempotency key
)
