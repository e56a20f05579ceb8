package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/chatstate/chatstate/fsm"
)

// The write endpoints: decode and validate the body (400, 413, 415), build
// the command, propose it (see request.propose), render the result.

func (s *Server) putAccount(r *request) {
	b, ok := decodeBody(r, false, decodeAccountBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.UpsertAccount{Name: b.Name}, b)
	if !ok {
		return
	}
	renderAccount(r.begin(), res.Account)
	r.send(createdOr200(res.Created))
}

func (s *Server) putOperator(r *request) {
	b, ok := decodeBody(r, false, decodeOperatorBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.UpsertOperator{Operator: r.sub, Name: b.Name, Email: b.Email}, b)
	if !ok {
		return
	}
	renderOperator(r.begin(), res.Operator, -1)
	r.send(createdOr200(res.Created))
}

func (s *Server) deleteOperator(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	if _, ok := r.propose(&fsm.RemoveOperator{Operator: r.sub}, b); !ok {
		return
	}
	r.noContent()
}

func (s *Server) readNotifications(r *request) {
	b, ok := decodeBody(r, false, decodeReadNotificationsBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.ReadNotifications{Operator: r.sub, UpTo: b.UpTo}, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(1)
	e.key("unread_count")
	e.int(int64(res.UnreadCount))
	e.objectEnd()
	r.send(200)
}

func (s *Server) createChat(r *request) {
	b, ok := decodeBody(r, false, decodeCreateChatBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.CreateChat{Contact: b.Contact, Source: b.Source, Text: b.Text}, b)
	if !ok {
		return
	}
	renderChat(r.begin(), res.Chat)
	r.send(201)
}

func (s *Server) postMessage(r *request) {
	b, ok := decodeBody(r, false, decodeMessageBody)
	if !ok {
		return
	}
	var cmd fsm.Command
	if b.Author == fsm.AuthorOperator {
		cmd = &fsm.OperatorMessage{Chat: r.chat, Operator: b.AuthorID, Text: b.Text}
	} else {
		cmd = &fsm.CustomerMessage{Chat: r.chat, Text: b.Text}
	}
	res, ok := r.propose(cmd, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("message")
	if res.Message != nil {
		renderMessage(e, res.Message)
	} else {
		e.null()
	}
	e.key("chat")
	renderChat(e, res.Chat)
	e.objectEnd()
	r.send(201)
}

// chatAction serves the transitions whose body is {"operator"}.
func (s *Server) chatAction(t fsm.CommandType) func(*request) {
	return func(r *request) {
		b, ok := decodeBody(r, false, decodeActionBody)
		if !ok {
			return
		}
		a := fsm.ChatAction{Chat: r.chat, Operator: b.Operator}
		var cmd fsm.Command
		switch t {
		case fsm.CmdJoin:
			cmd = &fsm.Join{ChatAction: a}
		case fsm.CmdLeave:
			cmd = &fsm.Leave{ChatAction: a}
		case fsm.CmdMarkUnread:
			cmd = &fsm.MarkUnread{ChatAction: a}
		case fsm.CmdMarkRead:
			cmd = &fsm.MarkRead{ChatAction: a}
		case fsm.CmdClose:
			cmd = &fsm.Close{ChatAction: a}
		case fsm.CmdReopen:
			cmd = &fsm.Reopen{ChatAction: a}
		default:
			panic(fmt.Sprintf("httpapi: chatAction for command type %d", t))
		}
		res, ok := r.propose(cmd, b)
		if !ok {
			return
		}
		renderChat(r.begin(), res.Chat)
		r.send(200)
	}
}

func (s *Server) assign(r *request) {
	b, ok := decodeBody(r, false, decodeAssignBody)
	if !ok {
		return
	}
	res, ok := r.propose(&fsm.Assign{Chat: r.chat, Operator: b.Operator, By: b.By}, b)
	if !ok {
		return
	}
	renderChat(r.begin(), res.Chat)
	r.send(200)
}

// createKey makes an account key: a random id and a random secret, of
// which only the SHA-256 is replicated. The secret is shown in this
// response only. A replay (same Idempotency-Key) answers the original
// status and key id with "key": null: the secret was never stored, so it
// cannot be shown again; revoke that key and create another.
func (s *Server) createKey(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	id, secret, err := newAccountKey()
	if err != nil {
		r.fail(err)
		return
	}
	res, ok := r.propose(&fsm.CreateKey{KeyID: id, Hash: sha256.Sum256([]byte(secret))}, b)
	if !ok {
		return
	}
	e := r.begin()
	e.objectStart(2)
	e.key("id")
	if res.KeyID != "" {
		e.str(res.KeyID)
	} else {
		e.str(id)
	}
	e.key("key")
	if res.Replayed {
		e.null()
	} else {
		e.str(secret)
	}
	e.objectEnd()
	r.send(201)
}

// newAccountKey draws a key id ("key-" and 16 hex digits) and a secret
// ("csk_" and 32 random bytes in base64url).
func newAccountKey() (id, secret string, err error) {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("httpapi: generate key: %w", err)
	}
	return "key-" + hex.EncodeToString(b[:8]), "csk_" + base64.RawURLEncoding.EncodeToString(b[8:]), nil
}

func (s *Server) revokeKey(r *request) {
	b, ok := decodeBody(r, true, decodeEmptyBody)
	if !ok {
		return
	}
	if _, ok := r.propose(&fsm.RevokeKey{KeyID: r.sub}, b); !ok {
		return
	}
	r.noContent()
}
