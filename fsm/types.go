package fsm

import (
	"fmt"
	"time"
)

// Millis is a point in time as Unix milliseconds, UTC. Zero means "none"
// (the API's null). The leader stamps it into commands; Apply never reads a
// clock.
type Millis int64

// MillisOf converts a wall-clock time to Millis.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time converts back to a time.Time in UTC.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)).UTC() }

// AppendRFC3339 appends the API's time format, RFC 3339 in UTC with exactly
// three fractional digits: 2026-11-23T18:00:00.123Z.
func (m Millis) AppendRFC3339(b []byte) []byte {
	return m.Time().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// String formats m as AppendRFC3339 does, or "null" for zero.
func (m Millis) String() string {
	if m == 0 {
		return "null"
	}
	return string(m.AppendRFC3339(nil))
}

// ValidID reports whether s is a valid caller-chosen id (account, operator,
// contact, key): ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Status is a chat's lifecycle state.
type Status uint8

const (
	StatusAny    Status = 0 // only in filters
	StatusActive Status = 1
	StatusClosed Status = 2
)

// ContactType says whether the customer is a known contact or an anonymous
// visitor.
type ContactType uint8

const (
	ContactTypeAny     ContactType = 0 // only in filters
	ContactTypeContact ContactType = 1
	ContactTypeVisitor ContactType = 2
)

// Source is where a chat came from.
type Source uint8

const (
	SourceAny          Source = 0 // only in filters
	SourceEmail        Source = 1
	SourceLandingPage  Source = 2
	SourceChatPage     Source = 3
	SourceExternalPage Source = 4
)

// AuthorType says who wrote a transcript entry.
type AuthorType uint8

const (
	AuthorCustomer AuthorType = 1
	AuthorOperator AuthorType = 2
	AuthorSystem   AuthorType = 3
)

// SystemEvent is what a system transcript entry records.
type SystemEvent uint8

const (
	SystemNone           SystemEvent = 0
	SystemOperatorJoined SystemEvent = 1
	SystemOperatorLeft   SystemEvent = 2
	SystemAssigned       SystemEvent = 3
	SystemUnassigned     SystemEvent = 4
	SystemClosed         SystemEvent = 5
	SystemReopened       SystemEvent = 6
)

// NotificationType is the kind of an inbox notification.
type NotificationType uint8

const (
	NotificationOperatorJoined NotificationType = 1
	NotificationOperatorLeft   NotificationType = 2
	NotificationChatAssigned   NotificationType = 3
	NotificationChatUnassigned NotificationType = 4
	NotificationNewMessage     NotificationType = 5
	NotificationChatReopened   NotificationType = 6
)

// EventType is the type of an event in an account's stream.
type EventType uint8

const (
	EventChatCreated         EventType = 1
	EventChatAssigned        EventType = 2
	EventChatJoined          EventType = 3
	EventChatLeft            EventType = 4
	EventChatUnread          EventType = 5
	EventChatRead            EventType = 6
	EventChatClosed          EventType = 7
	EventChatReopened        EventType = 8
	EventMessageCreated      EventType = 9
	EventOperatorUpserted    EventType = 10
	EventOperatorRemoved     EventType = 11
	EventNotificationCreated EventType = 12
)

// The API's names of the enums, indexed by value.
var (
	statusNames           = [...]string{"", "active", "closed"}
	contactTypeNames      = [...]string{"", "contact", "visitor"}
	sourceNames           = [...]string{"", "email", "landing_page", "chat_page", "external_page"}
	authorTypeNames       = [...]string{"", "customer", "operator", "system"}
	systemEventNames      = [...]string{"", "operator_joined", "operator_left", "assigned", "unassigned", "closed", "reopened"}
	notificationTypeNames = [...]string{"", "operator_joined", "operator_left", "chat_assigned", "chat_unassigned", "new_message", "chat_reopened"}
	eventTypeNames        = [...]string{"", "chat.created", "chat.assigned", "chat.joined", "chat.left", "chat.unread", "chat.read", "chat.closed", "chat.reopened", "message.created", "operator.upserted", "operator.removed", "notification.created"}
)

func enumName(names []string, v uint8) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("unknown(%d)", v)
}

func parseEnum(names []string, s string) (uint8, bool) {
	for i := 1; i < len(names); i++ {
		if names[i] == s {
			return uint8(i), true
		}
	}
	return 0, false
}

func (s Status) String() string           { return enumName(statusNames[:], uint8(s)) }
func (c ContactType) String() string      { return enumName(contactTypeNames[:], uint8(c)) }
func (s Source) String() string           { return enumName(sourceNames[:], uint8(s)) }
func (a AuthorType) String() string       { return enumName(authorTypeNames[:], uint8(a)) }
func (e SystemEvent) String() string      { return enumName(systemEventNames[:], uint8(e)) }
func (n NotificationType) String() string { return enumName(notificationTypeNames[:], uint8(n)) }
func (e EventType) String() string        { return enumName(eventTypeNames[:], uint8(e)) }

// ParseStatus parses "active" or "closed".
func ParseStatus(s string) (Status, bool) {
	v, ok := parseEnum(statusNames[:], s)
	return Status(v), ok
}

// ParseContactType parses "contact" or "visitor".
func ParseContactType(s string) (ContactType, bool) {
	v, ok := parseEnum(contactTypeNames[:], s)
	return ContactType(v), ok
}

// ParseSource parses "email", "landing_page", "chat_page" or "external_page".
func ParseSource(s string) (Source, bool) {
	v, ok := parseEnum(sourceNames[:], s)
	return Source(v), ok
}

// ParseEventType parses an event type such as "chat.created".
func ParseEventType(s string) (EventType, bool) {
	v, ok := parseEnum(eventTypeNames[:], s)
	return EventType(v), ok
}

// AllContactTypes, AllSources and AllEventTypes list every value, in order.
var (
	AllContactTypes = []ContactType{ContactTypeContact, ContactTypeVisitor}
	AllSources      = []Source{SourceEmail, SourceLandingPage, SourceChatPage, SourceExternalPage}
	AllEventTypes   = []EventType{EventChatCreated, EventChatAssigned, EventChatJoined, EventChatLeft, EventChatUnread, EventChatRead, EventChatClosed, EventChatReopened, EventMessageCreated, EventOperatorUpserted, EventOperatorRemoved, EventNotificationCreated}
)

// Account is a tenant. Immutable once published.
type Account struct {
	ID        string
	Name      string
	CreatedAt Millis
}

// Operator is a team member with access to every chat of the account.
// Immutable once published.
type Operator struct {
	ID        string
	Name      string
	Email     *string // nil when absent
	CreatedAt Millis
}

// OperatorSummary is an operator with the number of active chats assigned
// to them, as the operators list shows it.
type OperatorSummary struct {
	*Operator
	ActiveChats int
}

// Contact is the customer of a chat. Only Type is required.
type Contact struct {
	ID    *string
	Type  ContactType
	Name  *string
	Email *string
}

// Chat is one version of a chat. Immutable once published: every change
// builds a new version, so a version held by a reader, an event or a
// snapshot never changes.
type Chat struct {
	ID     int64
	Status Status
	Unread bool
	Source Source
	// rev numbers the versions of a chat, from 0 at creation; snapshots
	// use (ID, rev) to share a version between the events that hold it.
	// Declared here, it fills the padding after the one-byte fields,
	// which keeps a chat version at 144 bytes, one of Go's size classes
	// (the next is 160). It wraps around; only equality matters.
	rev      uint32
	Contact  *Contact // shared by all versions of the chat
	Assignee string   // "" when unassigned
	// participants are the joined operators in join order, never the
	// assignee; nil when none. A pointer rather than a slice keeps a
	// version at 144 bytes instead of 160 (versions held by the event
	// window are most of the heap). Lists are replaced, never modified.
	participants   *[]string
	CreatedAt      Millis
	LastActivityAt Millis
	WaitingSince   Millis // 0 when no customer message is waiting
	FirstReplyAt   Millis
	ClosedAt       Millis
	ClosedBy       string // "" while active
	MessageCount   int    // customer and operator messages
	// LastMessage is the newest customer or operator message, nil before any.
	LastMessage *Message
	// transcript is append-only and shared between versions: a version
	// sees entries [0, len) and later versions only append past that.
	transcript []Message
}

// Participants returns the operators who joined the chat, in join order,
// never the assignee. The slice must not be modified.
func (c *Chat) Participants() []string {
	if c.participants == nil {
		return nil
	}
	return *c.participants
}

// setParticipants replaces the participant list; an empty one is nil.
func (c *Chat) setParticipants(list []string) {
	if len(list) == 0 {
		c.participants = nil
		return
	}
	c.participants = &list
}

// Transcript returns every transcript entry of this version, oldest first.
// The slice must not be modified.
func (c *Chat) Transcript() []Message { return c.transcript[:len(c.transcript):len(c.transcript)] }

// Message is one transcript entry: a customer, operator or system message.
type Message struct {
	Seq      int64
	At       Millis
	AuthorID string // the operator, for operator messages
	Text     string
	Operator string // for system entries: who, "" for null
	// The one-byte fields come last so that they share a word: transcripts
	// are most of a chat's memory.
	AuthorType AuthorType
	Event      SystemEvent // for system entries
}

// Notification is one entry of an operator's inbox.
type Notification struct {
	ID        int64
	ChatID    int64
	At        Millis
	Recipient string
	Operator  string // the other operator involved, "" for null
	Type      NotificationType
	Read      bool // as of the read that returned it
}

// Event is one entry of an account's event stream.
type Event struct {
	Seq  int64
	Type EventType
	At   Millis
	// Chat is the chat after the whole write, for chat.* and
	// message.created; Before is the chat before the write (nil when the
	// write created it). Filters match against both.
	Chat   *Chat
	Before *Chat
	// Message is set for message.created.
	Message *Message
	// Operator is set for operator.upserted; RemovedOperator for
	// operator.removed.
	Operator        *Operator
	RemovedOperator string
	// Notification is set for notification.created.
	Notification *Notification
}
