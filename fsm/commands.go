package fsm

import (
	"fmt"
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
	Account string
	// Time is the leader's clock when the command was built.
	Time Millis
	// RequestID identifies the request in logs.
	RequestID string
	// IdempotencyKey, when set, makes Apply remember the command's Result
	// under this key in the account; Fingerprint identifies the request
	// (method, path, query and decoded body) so that the same key with a
	// different request is told apart.
	IdempotencyKey string
	Fingerprint    []byte
}

// Command is a write. Implementations are the Cmd* structs below.
type Command interface {
	Type() CommandType
	Head() *Header
}

// UpsertAccount creates the account or renames it.
type UpsertAccount struct {
	Header
	Name string
}

// UpsertOperator creates the operator or updates name and email.
type UpsertOperator struct {
	Header
	Operator string
	Name     string
	Email    *string
}

// RemoveOperator revokes an operator's access (see API.md, DELETE operator).
type RemoveOperator struct {
	Header
	Operator string
}

// CreateChat opens a chat with the customer's first message.
type CreateChat struct {
	Header
	Contact Contact
	Source  Source
	Text    string
}

// CustomerMessage appends a customer message, reopening a closed chat.
type CustomerMessage struct {
	Header
	Chat int64
	Text string
}

// OperatorMessage appends an operator's reply; it assigns an unassigned chat
// to its author.
type OperatorMessage struct {
	Header
	Chat     int64
	Operator string
	Text     string
}

// ChatAction is the body shared by join, leave, mark unread, mark read,
// close and reopen: which chat, and which operator acts.
type ChatAction struct {
	Header
	Chat     int64
	Operator string
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
	Chat     int64
	Operator string
	By       string
}

// ReadNotifications marks every notification of Operator's inbox with id
// up to UpTo as read.
type ReadNotifications struct {
	Header
	Operator string
	UpTo     int64
}

// CreateKey stores an account key. Only the key's SHA-256 is replicated;
// the key itself is shown once, by the node that generated it.
type CreateKey struct {
	Header
	KeyID string
	Hash  [32]byte
}

// RevokeKey deletes an account key.
type RevokeKey struct {
	Header
	KeyID string
}

// SetNode records a cluster member's addresses. It is replicated so that
// every node can send clients to the leader's HTTP API. Header.Account is
// empty.
type SetNode struct {
	Header
	NodeID string
	Raft   string
	HTTP   string
}

// RemoveNode forgets a cluster member's addresses.
type RemoveNode struct {
	Header
	NodeID string
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

// Wire format: the type byte, then the command as one MessagePack array:
// the Header's five fields (account, time, request id, idempotency key,
// fingerprint as binary or nil), then the command's own fields in
// declaration order. Positional fields decode without reflection or field
// name matching; that was a third of Apply's time with msgpack struct
// decoding. A new field means a new command type, never a changed layout.

// bodyCodec is implemented by every command.
type bodyCodec interface {
	fields() int // the command's own fields, after the Header's
	encodeBody(w *mpWriter)
	decodeBody(r *mpReader)
}

const headerFields = 5

func (h *Header) encode(w *mpWriter) {
	w.str(h.Account)
	w.int(int64(h.Time))
	w.str(h.RequestID)
	w.str(h.IdempotencyKey)
	if h.Fingerprint == nil {
		w.nil()
	} else {
		w.bytes(h.Fingerprint)
	}
}

func (h *Header) decode(r *mpReader) {
	h.Account = r.str()
	h.Time = Millis(r.int())
	h.RequestID = r.str()
	h.IdempotencyKey = r.str()
	if !r.isNil() {
		h.Fingerprint = r.bytes()
	}
}

func (w *mpWriter) optStr(p *string) {
	if p == nil {
		w.nil()
		return
	}
	w.str(*p)
}

func (r *mpReader) optStr() *string {
	if r.isNil() {
		return nil
	}
	s := r.str()
	return &s
}

func (*UpsertAccount) fields() int              { return 1 }
func (c *UpsertAccount) encodeBody(w *mpWriter) { w.str(c.Name) }
func (c *UpsertAccount) decodeBody(r *mpReader) { c.Name = r.str() }

func (*UpsertOperator) fields() int { return 3 }
func (c *UpsertOperator) encodeBody(w *mpWriter) {
	w.str(c.Operator)
	w.str(c.Name)
	w.optStr(c.Email)
}
func (c *UpsertOperator) decodeBody(r *mpReader) {
	c.Operator, c.Name, c.Email = r.str(), r.str(), r.optStr()
}

func (*RemoveOperator) fields() int              { return 1 }
func (c *RemoveOperator) encodeBody(w *mpWriter) { w.str(c.Operator) }
func (c *RemoveOperator) decodeBody(r *mpReader) { c.Operator = r.str() }

func (*CreateChat) fields() int { return 6 }
func (c *CreateChat) encodeBody(w *mpWriter) {
	w.optStr(c.Contact.ID)
	w.uint(uint64(c.Contact.Type))
	w.optStr(c.Contact.Name)
	w.optStr(c.Contact.Email)
	w.uint(uint64(c.Source))
	w.str(c.Text)
}
func (c *CreateChat) decodeBody(r *mpReader) {
	c.Contact.ID = r.optStr()
	c.Contact.Type = ContactType(r.byteValue())
	c.Contact.Name = r.optStr()
	c.Contact.Email = r.optStr()
	c.Source = Source(r.byteValue())
	c.Text = r.str()
}

func (*CustomerMessage) fields() int { return 2 }
func (c *CustomerMessage) encodeBody(w *mpWriter) {
	w.int(c.Chat)
	w.str(c.Text)
}
func (c *CustomerMessage) decodeBody(r *mpReader) { c.Chat, c.Text = r.int(), r.str() }

func (*OperatorMessage) fields() int { return 3 }
func (c *OperatorMessage) encodeBody(w *mpWriter) {
	w.int(c.Chat)
	w.str(c.Operator)
	w.str(c.Text)
}
func (c *OperatorMessage) decodeBody(r *mpReader) {
	c.Chat, c.Operator, c.Text = r.int(), r.str(), r.str()
}

func (*ChatAction) fields() int { return 2 }
func (c *ChatAction) encodeBody(w *mpWriter) {
	w.int(c.Chat)
	w.str(c.Operator)
}
func (c *ChatAction) decodeBody(r *mpReader) { c.Chat, c.Operator = r.int(), r.str() }

func (*Assign) fields() int { return 3 }
func (c *Assign) encodeBody(w *mpWriter) {
	w.int(c.Chat)
	w.str(c.Operator)
	w.str(c.By)
}
func (c *Assign) decodeBody(r *mpReader) { c.Chat, c.Operator, c.By = r.int(), r.str(), r.str() }

func (*ReadNotifications) fields() int { return 2 }
func (c *ReadNotifications) encodeBody(w *mpWriter) {
	w.str(c.Operator)
	w.int(c.UpTo)
}
func (c *ReadNotifications) decodeBody(r *mpReader) { c.Operator, c.UpTo = r.str(), r.int() }

func (*CreateKey) fields() int { return 2 }
func (c *CreateKey) encodeBody(w *mpWriter) {
	w.str(c.KeyID)
	w.bytes(c.Hash[:])
}
func (c *CreateKey) decodeBody(r *mpReader) {
	c.KeyID = r.str()
	if b := r.bytes(); len(b) == len(c.Hash) {
		c.Hash = [32]byte(b)
	} else {
		r.fail(fmt.Errorf("%w: key hash of %d bytes", errSnapshotValue, len(b)))
	}
}

func (*RevokeKey) fields() int              { return 1 }
func (c *RevokeKey) encodeBody(w *mpWriter) { w.str(c.KeyID) }
func (c *RevokeKey) decodeBody(r *mpReader) { c.KeyID = r.str() }

func (*SetNode) fields() int { return 3 }
func (c *SetNode) encodeBody(w *mpWriter) {
	w.str(c.NodeID)
	w.str(c.Raft)
	w.str(c.HTTP)
}
func (c *SetNode) decodeBody(r *mpReader) { c.NodeID, c.Raft, c.HTTP = r.str(), r.str(), r.str() }

func (*RemoveNode) fields() int              { return 1 }
func (c *RemoveNode) encodeBody(w *mpWriter) { w.str(c.NodeID) }
func (c *RemoveNode) decodeBody(r *mpReader) { c.NodeID = r.str() }

func (*Noop) fields() int          { return 0 }
func (*Noop) encodeBody(*mpWriter) {}
func (*Noop) decodeBody(*mpReader) {}

// byteValue reads an unsigned integer that must fit in a byte (an enum).
func (r *mpReader) byteValue() uint8 {
	v := r.uint()
	if v > 0xff {
		r.fail(fmt.Errorf("%w: enum value %d", errSnapshotValue, v))
		return 0
	}
	return uint8(v)
}

// EncodeCommand encodes cmd as its type byte followed by its MessagePack body.
func EncodeCommand(cmd Command) ([]byte, error) {
	bc, ok := cmd.(bodyCodec)
	if !ok || newCommand(cmd.Type()) == nil {
		return nil, fmt.Errorf("fsm: encode %T: not a command", cmd)
	}
	w := &mpWriter{buf: make([]byte, 0, 96+commandTextLen(cmd))}
	w.buf = append(w.buf, byte(cmd.Type()))
	w.arr(headerFields + bc.fields())
	cmd.Head().encode(w)
	bc.encodeBody(w)
	return w.buf, nil
}

func commandTextLen(cmd Command) int {
	switch c := cmd.(type) {
	case *CreateChat:
		return len(c.Text)
	case *CustomerMessage:
		return len(c.Text)
	case *OperatorMessage:
		return len(c.Text)
	}
	return 0
}

// DecodeCommand decodes one command encoded by EncodeCommand. Malformed
// input, including trailing bytes and a wrong number of fields, is an error
// wrapping ErrMalformedCommand; it never panics.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformedCommand)
	}
	cmd := newCommand(CommandType(b[0]))
	if cmd == nil {
		return nil, fmt.Errorf("%w: unknown type %d", ErrMalformedCommand, b[0])
	}
	bc := cmd.(bodyCodec)
	var r mpReader
	r.resetFrame(b[1:])
	if n := r.arr(); r.err == nil && n != headerFields+bc.fields() {
		return nil, fmt.Errorf("%w: %T: %d fields, want %d", ErrMalformedCommand, cmd, n, headerFields+bc.fields())
	}
	cmd.Head().decode(&r)
	bc.decodeBody(&r)
	if r.err != nil {
		return nil, fmt.Errorf("%w: %T: %v", ErrMalformedCommand, cmd, r.err)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformedCommand, r.end-r.pos)
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
	w := &mpWriter{buf: make([]byte, 0, size)}
	w.buf = append(w.buf, byte(CmdBatch))
	w.arr(len(encoded))
	for _, c := range encoded {
		w.bytes(c)
	}
	return w.buf
}

// DecodeBatch splits a log entry into its encoded commands, which share b's
// memory. A log entry that is a single command (not a batch) yields itself.
func DecodeBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformedCommand)
	}
	if CommandType(b[0]) != CmdBatch {
		return [][]byte{b}, nil
	}
	var r mpReader
	r.resetFrame(b[1:])
	n := r.arr()
	if r.err != nil || n > len(b) {
		return nil, fmt.Errorf("%w: batch header", ErrMalformedCommand)
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		c := r.take(r.binLen())
		if r.err != nil {
			return nil, fmt.Errorf("%w: batch entry %d: %v", ErrMalformedCommand, i, r.err)
		}
		out = append(out, c)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: %d trailing bytes after batch", ErrMalformedCommand, r.end-r.pos)
	}
	return out, nil
}
