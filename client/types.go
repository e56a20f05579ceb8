package client

import "time"

// This file holds the API's records and request bodies as the client sees
// them. Field names follow API.md; the JSON tags are also the MessagePack
// names. Times are time.Time in UTC, parsed from the API's RFC 3339
// strings; a field the API may send as null is a pointer (nil for null).

// ChatStatus is a chat's lifecycle state.
type ChatStatus string

const (
	StatusActive ChatStatus = "active"
	StatusClosed ChatStatus = "closed"
)

// ContactType says whether the customer is a known contact or an anonymous
// visitor.
type ContactType string

const (
	ContactTypeContact ContactType = "contact"
	ContactTypeVisitor ContactType = "visitor"
)

// Source is where a chat came from.
type Source string

const (
	SourceEmail        Source = "email"
	SourceLandingPage  Source = "landing_page"
	SourceChatPage     Source = "chat_page"
	SourceExternalPage Source = "external_page"
)

// AuthorType says who wrote a transcript entry.
type AuthorType string

const (
	AuthorCustomer AuthorType = "customer"
	AuthorOperator AuthorType = "operator"
	AuthorSystem   AuthorType = "system"
)

// SystemEvent is what a system transcript entry records.
type SystemEvent string

const (
	SystemOperatorJoined SystemEvent = "operator_joined"
	SystemOperatorLeft   SystemEvent = "operator_left"
	SystemAssigned       SystemEvent = "assigned"
	SystemUnassigned     SystemEvent = "unassigned"
	SystemClosed         SystemEvent = "closed"
	SystemReopened       SystemEvent = "reopened"
)

// NotificationType is the kind of an inbox notification.
type NotificationType string

const (
	NotificationOperatorJoined NotificationType = "operator_joined"
	NotificationOperatorLeft   NotificationType = "operator_left"
	NotificationChatAssigned   NotificationType = "chat_assigned"
	NotificationChatUnassigned NotificationType = "chat_unassigned"
	NotificationNewMessage     NotificationType = "new_message"
	NotificationChatReopened   NotificationType = "chat_reopened"
)

// EventType is the type of an event of an account's stream.
type EventType string

const (
	EventChatCreated         EventType = "chat.created"
	EventChatAssigned        EventType = "chat.assigned"
	EventChatJoined          EventType = "chat.joined"
	EventChatLeft            EventType = "chat.left"
	EventChatUnread          EventType = "chat.unread"
	EventChatRead            EventType = "chat.read"
	EventChatClosed          EventType = "chat.closed"
	EventChatReopened        EventType = "chat.reopened"
	EventMessageCreated      EventType = "message.created"
	EventOperatorUpserted    EventType = "operator.upserted"
	EventOperatorRemoved     EventType = "operator.removed"
	EventNotificationCreated EventType = "notification.created"
)

// Account is a tenant: all chat data lives in an account.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Operator is a team member with access to every chat of the account.
type Operator struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     *string   `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	// ActiveChats is the number of active chats assigned to the operator.
	// Only ListOperators fills it; it is nil elsewhere.
	ActiveChats *int `json:"active_chats,omitempty"`
}

// Contact is the customer of a chat. Only Type is required; the others are
// nil when absent.
type Contact struct {
	ID    *string     `json:"id,omitempty"`
	Type  ContactType `json:"type"`
	Name  *string     `json:"name,omitempty"`
	Email *string     `json:"email,omitempty"`
}

// Author is who wrote a transcript entry. ID is the operator's id for
// operator messages and empty otherwise.
type Author struct {
	Type AuthorType `json:"type"`
	ID   string     `json:"id,omitempty"`
}

// Customer is the author of a customer message.
func Customer() Author { return Author{Type: AuthorCustomer} }

// OperatorAuthor is the author of a message written by operator id.
func OperatorAuthor(id string) Author { return Author{Type: AuthorOperator, ID: id} }

// Message is one transcript entry: a customer, operator or system message.
type Message struct {
	Seq    int64  `json:"seq"`
	Author Author `json:"author"`
	Text   string `json:"text"`
	// Event is set on system entries only.
	Event SystemEvent `json:"event,omitempty"`
	// Operator is, for system entries, the operator concerned; nil when
	// none (a chat reopened by a customer message) and on other entries.
	Operator *string   `json:"operator,omitempty"`
	At       time.Time `json:"at"`
}

// Chat is a chat as the API shows it.
type Chat struct {
	ID      int64      `json:"id"`
	Status  ChatStatus `json:"status"`
	Contact Contact    `json:"contact"`
	Source  Source     `json:"source"`
	// Assignee is nil while the chat is unassigned.
	Assignee *string `json:"assignee"`
	// Participants are the operators who joined, never the assignee.
	Participants   []string   `json:"participants"`
	Unread         bool       `json:"unread"`
	CreatedAt      time.Time  `json:"created_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	WaitingSince   *time.Time `json:"waiting_since"`
	FirstReplyAt   *time.Time `json:"first_reply_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	ClosedBy       *string    `json:"closed_by"`
	MessageCount   int        `json:"message_count"`
	// LastMessage is the newest customer or operator message.
	LastMessage *Message `json:"last_message"`
}

// Notification is one entry of an operator's inbox.
type Notification struct {
	ID        int64            `json:"id"`
	Type      NotificationType `json:"type"`
	Recipient string           `json:"recipient"`
	ChatID    int64            `json:"chat_id"`
	// Operator is the other operator involved; nil for new_message and
	// for chat_reopened by a customer.
	Operator *string   `json:"operator"`
	At       time.Time `json:"at"`
	Read     bool      `json:"read"`
}

// Counts are the badge counts of one status.
type Counts struct {
	Status     ChatStatus `json:"status"`
	All        int        `json:"all"`
	Unassigned int        `json:"unassigned"`
	Unread     int        `json:"unread"`
	// Operators has every operator of the account, with 0 where they have
	// no chat.
	Operators    map[string]int      `json:"operators"`
	ContactTypes map[ContactType]int `json:"contact_types"`
	Sources      map[Source]int      `json:"sources"`
}

// ChatPage is one page of a chat list. NextCursor is empty on the last
// page.
type ChatPage struct {
	Chats      []Chat `json:"chats"`
	NextCursor string `json:"next_cursor"`
}

// MessagePage is one page of a transcript, oldest first. NextAfter is nil
// on the last page.
type MessagePage struct {
	Messages  []Message `json:"messages"`
	NextAfter *int64    `json:"next_after"`
}

// NotificationPage is one page of an inbox, oldest first.
type NotificationPage struct {
	Notifications []Notification `json:"notifications"`
	// UnreadCount is the inbox's number of unread notifications.
	UnreadCount int `json:"unread_count"`
	// NextAfter is nil on the last page.
	NextAfter *int64 `json:"next_after"`
}

// MessageResult is the answer to a new message: the message and the chat
// after it.
type MessageResult struct {
	Message Message `json:"message"`
	Chat    Chat    `json:"chat"`
}

// Key is an account key. Key is the secret (a bearer token for
// Config.Token), shown only by the answer that created it: a replay of
// that answer (the same Idempotency-Key) has the ID and an empty Key.
type Key struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// NodeAddr names a cluster member.
type NodeAddr struct {
	ID   string `json:"id"`
	HTTP string `json:"http"`
	Raft string `json:"raft"`
	// Suffrage is "voter" or "nonvoter" in NodeStatus.Nodes, empty in
	// NodeStatus.Leader.
	Suffrage string `json:"suffrage,omitempty"`
}

// SnapshotInfo identifies a snapshot.
type SnapshotInfo struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// NodeStatus is what GET /v1/status reports about the node that answered.
type NodeStatus struct {
	ID string `json:"id"`
	// State is leader, follower, candidate or shutdown.
	State string `json:"state"`
	// Leader is nil while no leader is known.
	Leader       *NodeAddr `json:"leader"`
	Term         uint64    `json:"term"`
	CommitIndex  uint64    `json:"commit_index"`
	AppliedIndex uint64    `json:"applied_index"`
	// LastSnapshot is nil before the first snapshot.
	LastSnapshot *SnapshotInfo `json:"last_snapshot"`
	Nodes        []NodeAddr    `json:"nodes"`
	Version      string        `json:"version"`
}

// Request bodies.

// CreateChatRequest is the body of a new chat: the contact, where the chat
// came from and the customer's first message.
type CreateChatRequest struct {
	Contact Contact `json:"contact"`
	Source  Source  `json:"source"`
	Text    string  `json:"text"`
}

// JoinRequest asks the cluster to add a node as a voter.
type JoinRequest struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
}

type nameBody struct {
	Name string `json:"name"`
}

type operatorBody struct {
	Name  string  `json:"name"`
	Email *string `json:"email,omitempty"`
}

type messageBody struct {
	Author Author `json:"author"`
	Text   string `json:"text"`
}

type operatorField struct {
	Operator string `json:"operator"`
}

type assignBody struct {
	Operator *string `json:"operator"`
	By       string  `json:"by"`
}

type readNotificationsBody struct {
	UpTo int64 `json:"up_to"`
}

type unreadCountBody struct {
	UnreadCount int `json:"unread_count"`
}

type membershipBody struct {
	Nodes []NodeAddr `json:"nodes"`
}

type snapshotIndexBody struct {
	Index uint64 `json:"index"`
}

type accountsBody struct {
	Accounts []Account `json:"accounts"`
}

type operatorsBody struct {
	Operators []Operator `json:"operators"`
}

// String returns a pointer to s, for the optional fields of requests.
func String(s string) *string { return &s }

// Bool returns a pointer to b, for the optional filters.
func Bool(b bool) *bool { return &b }
