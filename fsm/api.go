package fsm

// This file holds the read-side and result types shared with node and
// httpapi.

// Result is the outcome of applying one command. Exactly one of the record
// fields is set on success, according to the command; Err is set instead
// when a business rule refused the command (then nothing changed).
type Result struct {
	Err *Error
	// Created is true when an upsert created its record (HTTP 201), and for
	// chat and message creation.
	Created bool
	// Replayed is true when the idempotency table answered: the fields are
	// those of the first application, and Index is its log index.
	Replayed bool
	Index    uint64

	Account     *Account
	Operator    *Operator
	Chat        *Chat
	Message     *Message // the message created by CreateChat, CustomerMessage or OperatorMessage
	UnreadCount int      // ReadNotifications
	KeyID       string   // CreateKey
}

// Error returns r.Err as an error, or nil: a typed nil *Error must never be
// returned as a non-nil error.
func (r Result) Error() error {
	if r.Err == nil {
		return nil
	}
	return r.Err
}

// UnreadFilter selects chats by their unread flag.
type UnreadFilter uint8

const (
	UnreadAny   UnreadFilter = 0
	UnreadTrue  UnreadFilter = 1
	UnreadFalse UnreadFilter = 2
)

// ChatFilter is a list filter. Zero fields match everything; Operator and
// Unassigned are exclusive.
type ChatFilter struct {
	Status      Status
	Operator    string // assigned to this operator
	Unassigned  bool
	ContactType ContactType
	Source      Source
	Unread      UnreadFilter
}

// Matches reports whether chat c belongs in the filtered list.
func (f ChatFilter) Matches(c *Chat) bool {
	if c == nil {
		return false
	}
	if f.Status != StatusAny && c.Status != f.Status {
		return false
	}
	if f.Unassigned && c.Assignee != "" {
		return false
	}
	if f.Operator != "" && c.Assignee != f.Operator {
		return false
	}
	if f.ContactType != ContactTypeAny && c.Contact.Type != f.ContactType {
		return false
	}
	if f.Source != SourceAny && c.Source != f.Source {
		return false
	}
	switch f.Unread {
	case UnreadTrue:
		return c.Unread
	case UnreadFalse:
		return !c.Unread
	}
	return true
}

// Cursor is a position in a chat list: the sort key of the last chat of
// the previous page. Lists are ordered by LastActivityAt descending, then
// by ID descending, and a page starts strictly after its cursor, so a chat
// that did not change is never repeated or skipped.
type Cursor struct {
	LastActivityAt Millis
	ID             int64
}

// ListQuery asks for one page of a chat list.
type ListQuery struct {
	Filter ChatFilter
	Limit  int     // 1..500
	After  *Cursor // nil for the first page
}

// ChatPage is one page of a chat list. Next is nil on the last page.
type ChatPage struct {
	Chats []*Chat
	Next  *Cursor
}

// Counts are an account's badge counts for one status, kept as counters by
// Apply. Operators lists every operator of the account in id order, with 0
// where they have none; ContactTypes and Sources are indexed by the enum
// value minus one.
type Counts struct {
	Status       Status
	All          int
	Unassigned   int
	Unread       int
	Operators    []OperatorCount
	ContactTypes [2]int
	Sources      [4]int
}

// OperatorCount is one operator's entry in Counts.
type OperatorCount struct {
	Operator string
	Count    int
}

// CountQuery selects which chats are counted. Operator filters are not
// part of counts.
type CountQuery struct {
	Status      Status // StatusAny means active
	ContactType ContactType
	Source      Source
	Unread      UnreadFilter
}

// MessagePage is a page of a transcript, oldest first. NextAfter is 0 on
// the last page.
type MessagePage struct {
	Messages  []Message
	NextAfter int64
}

// NotificationPage is a page of an inbox, oldest first. NextAfter is 0 on
// the last page.
type NotificationPage struct {
	Notifications []Notification
	UnreadCount   int
	NextAfter     int64
}

// EventPage is a run of an account's events after a sequence number.
type EventPage struct {
	Events []Event
	// LastSeq is the account's newest event sequence number at the time of
	// the read; a stream resumes after it.
	LastSeq int64
}
