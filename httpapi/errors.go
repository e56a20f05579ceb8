package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/chatstate/chatstate/fsm"
)

// Error codes that only the HTTP layer decides (the state machine's are
// fsm.Code values).
const (
	codeBadRequest           = "bad_request"
	codeInvalidField         = string(fsm.CodeInvalidField)
	codeUnauthorized         = "unauthorized"
	codeForbidden            = "forbidden"
	codeNotFound             = string(fsm.CodeNotFound)
	codeMethodNotAllowed     = "method_not_allowed"
	codePayloadTooLarge      = "payload_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeNoLeader             = "no_leader"
	codeInternal             = "internal"
)

// ErrInvalidBackup is what Backend.Restore's error wraps when the body is
// not a backup it can load (answered 400 bad_request, state unchanged).
var ErrInvalidBackup = errors.New("httpapi: invalid backup")

// ErrTokenRequired is returned by RequireTokenForAddr.
var ErrTokenRequired = errors.New("httpapi: listening on a non-loopback address requires an admin token")

// apiError is an answer decided by the HTTP layer: status, the API's error
// code, a message that says what is wrong and, for invalid_field, the
// field's name.
type apiError struct {
	status     int
	code       string
	message    string
	field      string
	retryAfter bool
}

func (e *apiError) Error() string { return e.message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: 400, code: codeBadRequest, message: fmt.Sprintf(format, args...)}
}

func invalidField(field, format string, args ...any) *apiError {
	return &apiError{status: 400, code: codeInvalidField, field: field, message: fmt.Sprintf(format, args...)}
}

// errServerShuttingDown answers requests cut short by Shutdown.
var errServerShuttingDown = &apiError{status: 503, code: codeShuttingDown, retryAfter: true,
	message: "the server is shutting down; retry on another node"}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: 404, code: codeNotFound, message: fmt.Sprintf(format, args...)}
}

// answer is how an error is put on the wire.
type answer struct {
	status     int
	code       string
	message    string
	field      string
	retryAfter bool   // 503: add Retry-After
	redirectTo string // 307: the leader's HTTP address
	internal   bool   // 500: log it
}

// classify maps every error the API can meet to its answer. It is the one
// place where errors become statuses.
func classify(err error) answer {
	var ae *apiError
	if errors.As(err, &ae) {
		return answer{status: ae.status, code: ae.code, message: ae.message, field: ae.field, retryAfter: ae.retryAfter}
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		return answer{status: fsmStatus(fe.Code), code: string(fe.Code), message: fe.Error(), field: fe.Field}
	}
	if errors.Is(err, ErrInvalidBackup) {
		return answer{status: 400, code: codeBadRequest, message: "the request body is not a backup this server can restore: " + err.Error()}
	}
	var ce codedError
	if errors.As(err, &ce) {
		switch ce.ErrorCode() {
		case codeNotLeader:
			var lh leaderHint
			if errors.As(err, &lh) && lh.LeaderHTTP() != "" {
				return answer{status: 307, code: codeNotLeader, message: "this node is not the leader", redirectTo: lh.LeaderHTTP()}
			}
			return answer{status: 503, code: codeNoLeader, message: "no leader is known; retry shortly", retryAfter: true}
		case codeLeadershipLost:
			return answer{status: 503, code: codeLeadershipLost, message: "leadership was lost before the write was confirmed; its outcome is unknown, retry with the same Idempotency-Key", retryAfter: true}
		case codeShuttingDown:
			return answer{status: 503, code: codeShuttingDown, message: "the node is shutting down; retry on another node", retryAfter: true}
		case codeTimeout:
			return answer{status: 504, code: codeTimeout, message: "the request was not completed within the timeout: " + ce.Error()}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return answer{status: 504, code: codeTimeout, message: "the request was not completed within the timeout"}
	}
	return answer{status: 500, code: codeInternal, message: "internal error", internal: true}
}

// fsmStatus is the HTTP status of a state machine's error code.
func fsmStatus(c fsm.Code) int {
	switch c {
	case fsm.CodeInvalidField:
		return 400
	case fsm.CodeNotFound:
		return 404
	case fsm.CodeChatClosed, fsm.CodeChatUnassigned, fsm.CodeNotParticipant,
		fsm.CodeAlreadyAssigned, fsm.CodeIdempotencyKeyReused:
		return 409
	case fsm.CodeCompacted:
		return 410
	}
	return 500
}

// quote formats a value for an error message.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
