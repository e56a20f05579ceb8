package fsm

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// CommandType is the first byte of every encoded command. The constants are
// append-only: a value, once released, keeps its meaning forever, because
// old log entries and snapshots still carry it.
type CommandType uint8

const (
	CmdBatch             CommandType = 1
	CmdUpsertAccount     CommandType = 2
	CmdUpsertOperator    CommandType = 3
	CmdRemoveOperator    CommandType = 4
	CmdCreateChat        CommandType = 5
	CmdCustomerMessage   CommandType = 6
	CmdOperatorMessage   CommandType = 7
	CmdJoin              CommandType = 8
	CmdLeave             CommandType = 9
	CmdMarkUnread        CommandType = 10
	CmdMarkRead          CommandType = 11
	CmdClose             CommandType = 12
	CmdReopen            CommandType = 13
	CmdAssign            CommandType = 14
	CmdReadNotifications CommandType = 15
	CmdCreateKey         CommandType = 16
	CmdRevokeKey         CommandType = 17
	CmdNoop              CommandType = 18
	CmdSetNode           CommandType = 19
	CmdRemoveNode        CommandType = 20
)

// Header is stamped into every command by the leader before it is
// proposed, so that Apply needs no clock and no randomness.
type Header struct {
	// Account the command belongs to. Every command but Noop has one.
	Account string `msgpack:"a"`
	// Time is the leader's clock when the command was built.
	Time Millis `msgpack:"t"`
	// RequestID identifies the request in logs.
	RequestID string `msgpack:"r,omitempty"`
	// IdempotencyKey, when set, makes Apply remember the command's Result
	// under this key in the account; Fingerprint identifies the request
	// (method, path, query and decoded body) so that the same key with a
	// different request is told apart.
	IdempotencyKey string `msgpack:"k,omitempty"`
	Fingerprint    []byte `msgpack:"f,omitempty"`
}

// Command is a write. Implementations are the Cmd* structs below.
type Command interface {
	Type() CommandType
	Head() *Header
}

// UpsertAccount creates the account or renames it.
type UpsertAccount struct {
	Header
	Name string `msgpack:"name"`
}

// UpsertOperator creates the operator or updates name and email.
type UpsertOperator struct {
	Header
	Operator string  `msgpack:"op"`
	Name     string  `msgpack:"name"`
	Email    *string `msgpack:"email"`
}

// RemoveOperator revokes an operator's access (see API.md, DELETE operator).
type RemoveOperator struct {
	Header
	Operator string `msgpack:"op"`
}

// CreateChat opens a chat with the customer's first message.
type CreateChat struct {
	Header
	Contact Contact `msgpack:"contact"`
	Source  Source  `msgpack:"source"`
	Text    string  `msgpack:"text"`
}

// CustomerMessage appends a customer message, reopening a closed chat.
type CustomerMessage struct {
	Header
	Chat int64  `msgpack:"chat"`
	Text string `msgpack:"text"`
}

// OperatorMessage appends an operator's reply; it assigns an unassigned chat
// to its author.
type OperatorMessage struct {
	Header
	Chat     int64  `msgpack:"chat"`
	Operator string `msgpack:"op"`
	Text     string `msgpack:"text"`
}

// ChatAction is the body shared by join, leave, mark unread, mark read,
// close and reopen: which chat, and which operator acts.
type ChatAction struct {
	Header
	Chat     int64  `msgpack:"chat"`
	Operator string `msgpack:"op"`
}

// Join, Leave, MarkUnread, MarkRead, Close and Reopen are the chat
// transitions that take only an acting operator.
type (
	Join       struct{ ChatAction }
	Leave      struct{ ChatAction }
	MarkUnread struct{ ChatAction }
	MarkRead   struct{ ChatAction }
	Close      struct{ ChatAction }
	Reopen     struct{ ChatAction }
)

// Assign transfers an active chat to Operator, or unassigns it when
// Operator is "". By is the operator who does it.
type Assign struct {
	Header
	Chat     int64  `msgpack:"chat"`
	Operator string `msgpack:"op"`
	By       string `msgpack:"by"`
}

// ReadNotifications marks every notification of Operator's inbox with id
// up to UpTo as read.
type ReadNotifications struct {
	Header
	Operator string `msgpack:"op"`
	UpTo     int64  `msgpack:"up_to"`
}

// CreateKey stores an account key. Only the key's SHA-256 is replicated;
// the key itself is shown once, by the node that generated it.
type CreateKey struct {
	Header
	KeyID string   `msgpack:"id"`
	Hash  [32]byte `msgpack:"hash"`
}

// RevokeKey deletes an account key.
type RevokeKey struct {
	Header
	KeyID string `msgpack:"id"`
}

// SetNode records a cluster member's addresses. It is replicated so that
// every node can send clients to the leader's HTTP API. Header.Account is
// empty.
type SetNode struct {
	Header
	NodeID string `msgpack:"id"`
	Raft   string `msgpack:"raft"`
	HTTP   string `msgpack:"http"`
}

// RemoveNode forgets a cluster member's addresses.
type RemoveNode struct {
	Header
	NodeID string `msgpack:"id"`
}

// Noop changes nothing. Benchmarks use it as the cheapest possible command.
type Noop struct {
	Header
}

func (c *Header) Head() *Header { return c }

func (*UpsertAccount) Type() CommandType     { return CmdUpsertAccount }
func (*UpsertOperator) Type() CommandType    { return CmdUpsertOperator }
func (*RemoveOperator) Type() CommandType    { return CmdRemoveOperator }
func (*CreateChat) Type() CommandType        { return CmdCreateChat }
func (*CustomerMessage) Type() CommandType   { return CmdCustomerMessage }
func (*OperatorMessage) Type() CommandType   { return CmdOperatorMessage }
func (*Join) Type() CommandType              { return CmdJoin }
func (*Leave) Type() CommandType             { return CmdLeave }
func (*MarkUnread) Type() CommandType        { return CmdMarkUnread }
func (*MarkRead) Type() CommandType          { return CmdMarkRead }
func (*Close) Type() CommandType             { return CmdClose }
func (*Reopen) Type() CommandType            { return CmdReopen }
func (*Assign) Type() CommandType            { return CmdAssign }
func (*ReadNotifications) Type() CommandType { return CmdReadNotifications }
func (*CreateKey) Type() CommandType         { return CmdCreateKey }
func (*RevokeKey) Type() CommandType         { return CmdRevokeKey }
func (*Noop) Type() CommandType              { return CmdNoop }
func (*SetNode) Type() CommandType           { return CmdSetNode }
func (*RemoveNode) Type() CommandType        { return CmdRemoveNode }

// newCommand returns an empty command of type t, or nil for an unknown or
// batch type.
func newCommand(t CommandType) Command {
	switch t {
	case CmdUpsertAccount:
		return new(UpsertAccount)
	case CmdUpsertOperator:
		return new(UpsertOperator)
	case CmdRemoveOperator:
		return new(RemoveOperator)
	case CmdCreateChat:
		return new(CreateChat)
	case CmdCustomerMessage:
		return new(CustomerMessage)
	case CmdOperatorMessage:
		return new(OperatorMessage)
	case CmdJoin:
		return new(Join)
	case CmdLeave:
		return new(Leave)
	case CmdMarkUnread:
		return new(MarkUnread)
	case CmdMarkRead:
		return new(MarkRead)
	case CmdClose:
		return new(Close)
	case CmdReopen:
		return new(Reopen)
	case CmdAssign:
		return new(Assign)
	case CmdReadNotifications:
		return new(ReadNotifications)
	case CmdCreateKey:
		return new(CreateKey)
	case CmdRevokeKey:
		return new(RevokeKey)
	case CmdNoop:
		return new(Noop)
	case CmdSetNode:
		return new(SetNode)
	case CmdRemoveNode:
		return new(RemoveNode)
	}
	return nil
}

// EncodeCommand encodes cmd as its type byte followed by its MessagePack body.
func EncodeCommand(cmd Command) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(byte(cmd.Type()))
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	if err := enc.Encode(cmd); err != nil {
		return nil, fmt.Errorf("fsm: encode %T: %w", cmd, err)
	}
	return buf.Bytes(), nil
}

// DecodeCommand decodes one command encoded by EncodeCommand. Malformed
// input, including trailing bytes and unknown fields, is an error wrapping
// ErrMalformedCommand; it never panics.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformedCommand)
	}
	cmd := newCommand(CommandType(b[0]))
	if cmd == nil {
		return nil, fmt.Errorf("%w: unknown type %d", ErrMalformedCommand, b[0])
	}
	r := bytes.NewReader(b[1:])
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	dec.DisallowUnknownFields(true)
	if err := dec.Decode(cmd); err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrMalformedCommand, cmd, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformedCommand, r.Len())
	}
	return cmd, nil
}

// EncodeBatch builds one log entry from commands already encoded by
// EncodeCommand. Apply answers it with one Result per command, in order.
func EncodeBatch(encoded [][]byte) []byte {
	size := 1 + 5
	for _, c := range encoded {
		size += 5 + len(c)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteByte(byte(CmdBatch))
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	// Writing to a bytes.Buffer cannot fail.
	_ = enc.EncodeArrayLen(len(encoded))
	for _, c := range encoded {
		_ = enc.EncodeBytes(c)
	}
	return buf.Bytes()
}

// DecodeBatch splits a log entry into its encoded commands. A log entry
// that is a single command (not a batch) yields itself.
func DecodeBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformedCommand)
	}
	if CommandType(b[0]) != CmdBatch {
		return [][]byte{b}, nil
	}
	r := bytes.NewReader(b[1:])
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	n, err := dec.DecodeArrayLen()
	if err != nil || n < 0 || n > r.Len() {
		return nil, fmt.Errorf("%w: batch header", ErrMalformedCommand)
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		c, err := dec.DecodeBytes()
		if err != nil {
			return nil, fmt.Errorf("%w: batch entry %d: %v", ErrMalformedCommand, i, err)
		}
		out = append(out, c)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after batch", ErrMalformedCommand, r.Len())
	}
	return out, nil
}
