package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// This file holds one method per endpoint of API.md. Every method takes
// call Options (idempotency key, consistency, min index, meta, node); reads
// take WithConsistency and WithMinIndex, writes WithIdempotencyKey.

// validID mirrors the API's rule for caller-chosen ids,
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. Checking it before building a path
// keeps an empty or odd id from turning into another route's path.
func validID(s string) bool {
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

func badID(field, value string) *Error {
	return &Error{Status: 400, Code: "invalid_field", Field: field,
		Message: field + " " + strconv.Quote(value) + " is not a valid id (^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$)"}
}

func accountPath(account string) (string, error) {
	if !validID(account) {
		return "", badID("account_id", account)
	}
	return "/v1/accounts/" + account, nil
}

func operatorPath(account, operator string) (string, error) {
	p, err := accountPath(account)
	if err != nil {
		return "", err
	}
	if !validID(operator) {
		return "", badID("operator_id", operator)
	}
	return p + "/operators/" + operator, nil
}

func chatPath(account string, chatID int64) (string, error) {
	p, err := accountPath(account)
	if err != nil {
		return "", err
	}
	if chatID <= 0 {
		return "", &Error{Status: 400, Code: "invalid_field", Field: "chat_id",
			Message: "chat_id must be a positive integer, got " + strconv.FormatInt(chatID, 10)}
	}
	return p + "/chats/" + strconv.FormatInt(chatID, 10), nil
}

// Accounts.

// PutAccount creates account id or renames it. Meta.Status tells which
// (201 created, 200 updated).
func (c *Client) PutAccount(ctx context.Context, id, name string, opts ...Option) (*Account, error) {
	p, err := accountPath(id)
	if err != nil {
		return nil, err
	}
	out := new(Account)
	err = c.do(ctx, &call{op: "PutAccount", method: http.MethodPut, path: p, write: true, body: nameBody{Name: name}, out: out}, opts)
	return result(out, err)
}

// GetAccount returns account id.
func (c *Client) GetAccount(ctx context.Context, id string, opts ...Option) (*Account, error) {
	p, err := accountPath(id)
	if err != nil {
		return nil, err
	}
	out := new(Account)
	err = c.do(ctx, &call{op: "GetAccount", method: http.MethodGet, path: p, read: true, out: out}, opts)
	return result(out, err)
}

// ListAccounts returns every account (admin).
func (c *Client) ListAccounts(ctx context.Context, opts ...Option) ([]Account, error) {
	var out accountsBody
	err := c.do(ctx, &call{op: "ListAccounts", method: http.MethodGet, path: "/v1/accounts", read: true, out: &out}, opts)
	return out.Accounts, err
}

// Operators.

// OperatorRequest is the body of PutOperator. Email is optional.
type OperatorRequest struct {
	Name  string
	Email *string
}

// PutOperator creates operator id in account or updates them.
func (c *Client) PutOperator(ctx context.Context, account, id string, op OperatorRequest, opts ...Option) (*Operator, error) {
	p, err := operatorPath(account, id)
	if err != nil {
		return nil, err
	}
	out := new(Operator)
	err = c.do(ctx, &call{op: "PutOperator", method: http.MethodPut, path: p, write: true,
		body: operatorBody{Name: op.Name, Email: op.Email}, out: out}, opts)
	return result(out, err)
}

// GetOperator returns operator id of account (without ActiveChats).
func (c *Client) GetOperator(ctx context.Context, account, id string, opts ...Option) (*Operator, error) {
	p, err := operatorPath(account, id)
	if err != nil {
		return nil, err
	}
	out := new(Operator)
	err = c.do(ctx, &call{op: "GetOperator", method: http.MethodGet, path: p, read: true, out: out}, opts)
	return result(out, err)
}

// ListOperators returns the operators of account, each with ActiveChats.
func (c *Client) ListOperators(ctx context.Context, account string, opts ...Option) ([]Operator, error) {
	p, err := accountPath(account)
	if err != nil {
		return nil, err
	}
	var out operatorsBody
	err = c.do(ctx, &call{op: "ListOperators", method: http.MethodGet, path: p + "/operators", read: true, out: &out}, opts)
	return out.Operators, err
}

// DeleteOperator removes operator id: their active chats become unassigned
// and unread, they leave every chat they joined and their inbox is
// dropped.
func (c *Client) DeleteOperator(ctx context.Context, account, id string, opts ...Option) error {
	p, err := operatorPath(account, id)
	if err != nil {
		return err
	}
	return c.do(ctx, &call{op: "DeleteOperator", method: http.MethodDelete, path: p, write: true}, opts)
}

// Chats.

// ChatFilter selects chats in lists, counts and event streams. Zero
// fields match everything (in lists, Status then defaults to active on the
// server).
type ChatFilter struct {
	Status ChatStatus
	// Operator selects chats assigned to that operator; Unassigned selects
	// unassigned chats. They are exclusive.
	Operator    string
	Unassigned  bool
	ContactType ContactType
	Source      Source
	// Unread selects by the unread flag when not nil.
	Unread *bool
}

func (f *ChatFilter) appendTo(q *query, withOperator bool) {
	q.addOpt("status", string(f.Status))
	if withOperator {
		if f.Unassigned {
			q.add("operator", "unassigned")
		} else {
			q.addOpt("operator", f.Operator)
		}
	}
	q.addOpt("contact_type", string(f.ContactType))
	q.addOpt("source", string(f.Source))
	q.addBool("unread", f.Unread)
}

// ListChatsRequest asks for one page of a chat list.
type ListChatsRequest struct {
	ChatFilter
	// Limit is the page size, 1 to 500; 0 means the server's default (50).
	Limit int
	// Cursor is the previous page's NextCursor; empty for the first page.
	Cursor string
}

// CreateChat starts a chat with the customer's first message. The chat is
// active, unassigned and unread.
func (c *Client) CreateChat(ctx context.Context, account string, r CreateChatRequest, opts ...Option) (*Chat, error) {
	p, err := accountPath(account)
	if err != nil {
		return nil, err
	}
	out := new(Chat)
	err = c.do(ctx, &call{op: "CreateChat", method: http.MethodPost, path: p + "/chats", write: true, body: r, out: out}, opts)
	return result(out, err)
}

// GetChat returns chat id of account.
func (c *Client) GetChat(ctx context.Context, account string, id int64, opts ...Option) (*Chat, error) {
	p, err := chatPath(account, id)
	if err != nil {
		return nil, err
	}
	out := new(Chat)
	err = c.do(ctx, &call{op: "GetChat", method: http.MethodGet, path: p, read: true, out: out}, opts)
	return result(out, err)
}

// ListChats returns one page of account's chats matching r, newest
// activity first.
func (c *Client) ListChats(ctx context.Context, account string, r ListChatsRequest, opts ...Option) (*ChatPage, error) {
	p, err := accountPath(account)
	if err != nil {
		return nil, err
	}
	q := newQuery(p + "/chats")
	r.appendTo(&q, true)
	if r.Limit != 0 {
		q.addInt("limit", int64(r.Limit))
	}
	q.addOpt("cursor", r.Cursor)
	out := new(ChatPage)
	err = c.do(ctx, &call{op: "ListChats", method: http.MethodGet, path: q.String(), read: true, out: out}, opts)
	return result(out, err)
}

// ListChatsAll iterates over every chat matching r, page after page by
// cursor (r.Limit is the page size; r.Cursor, if set, where to start). An
// error ends the iteration after being yielded.
//
//	for chat, err := range c.ListChatsAll(ctx, "acme", client.ListChatsRequest{}) {
//		if err != nil { return err }
//		...
//	}
func (c *Client) ListChatsAll(ctx context.Context, account string, r ListChatsRequest, opts ...Option) iter.Seq2[Chat, error] {
	return func(yield func(Chat, error) bool) {
		for {
			page, err := c.ListChats(ctx, account, r, opts...)
			if err != nil {
				yield(Chat{}, err)
				return
			}
			for _, ch := range page.Chats {
				if !yield(ch, nil) {
					return
				}
			}
			if page.NextCursor == "" || len(page.Chats) == 0 {
				return
			}
			r.Cursor = page.NextCursor
		}
	}
}

// CountsRequest selects the chats counted. Operator filters are not
// allowed here: every operator's count is in the answer.
type CountsRequest struct {
	Status      ChatStatus // default active
	ContactType ContactType
	Source      Source
	Unread      *bool
}

// CountChats returns the badge counts of account.
func (c *Client) CountChats(ctx context.Context, account string, r CountsRequest, opts ...Option) (*Counts, error) {
	p, err := accountPath(account)
	if err != nil {
		return nil, err
	}
	q := newQuery(p + "/chats/counts")
	f := ChatFilter{Status: r.Status, ContactType: r.ContactType, Source: r.Source, Unread: r.Unread}
	f.appendTo(&q, false)
	out := new(Counts)
	err = c.do(ctx, &call{op: "CountChats", method: http.MethodGet, path: q.String(), read: true, out: out}, opts)
	return result(out, err)
}

// ListMessages returns the transcript entries of a chat with seq > after,
// oldest first; limit 0 means the server's default.
func (c *Client) ListMessages(ctx context.Context, account string, chatID, after int64, limit int, opts ...Option) (*MessagePage, error) {
	p, err := chatPath(account, chatID)
	if err != nil {
		return nil, err
	}
	q := newQuery(p + "/messages")
	q.addInt("after", after)
	if limit != 0 {
		q.addInt("limit", int64(limit))
	}
	out := new(MessagePage)
	err = c.do(ctx, &call{op: "ListMessages", method: http.MethodGet, path: q.String(), read: true, out: out}, opts)
	return result(out, err)
}

// MessagesAll iterates over a chat's transcript entries after seq after,
// following next_after; pageSize 0 means the server's default.
func (c *Client) MessagesAll(ctx context.Context, account string, chatID, after int64, pageSize int, opts ...Option) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			page, err := c.ListMessages(ctx, account, chatID, after, pageSize, opts...)
			if err != nil {
				yield(Message{}, err)
				return
			}
			for _, m := range page.Messages {
				if !yield(m, nil) {
					return
				}
			}
			if page.NextAfter == nil || len(page.Messages) == 0 {
				return
			}
			after = *page.NextAfter
		}
	}
}

// Transitions.

// SendMessage appends a message to a chat. A customer message reopens a
// closed chat; an operator message takes an unassigned chat (see API.md).
func (c *Client) SendMessage(ctx context.Context, account string, chatID int64, author Author, text string, opts ...Option) (*MessageResult, error) {
	p, err := chatPath(account, chatID)
	if err != nil {
		return nil, err
	}
	out := new(MessageResult)
	err = c.do(ctx, &call{op: "SendMessage", method: http.MethodPost, path: p + "/messages", write: true,
		body: messageBody{Author: author, Text: text}, out: out}, opts)
	return result(out, err)
}

func (c *Client) transition(ctx context.Context, op, account string, chatID int64, action string, body any, opts []Option) (*Chat, error) {
	p, err := chatPath(account, chatID)
	if err != nil {
		return nil, err
	}
	out := new(Chat)
	err = c.do(ctx, &call{op: op, method: http.MethodPost, path: p + "/" + action, write: true, body: body, out: out}, opts)
	return result(out, err)
}

// JoinChat makes operator a participant of an assigned chat.
func (c *Client) JoinChat(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "JoinChat", account, chatID, "join", operatorField{Operator: operator}, opts)
}

// LeaveChat removes participant operator from a chat.
func (c *Client) LeaveChat(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "LeaveChat", account, chatID, "leave", operatorField{Operator: operator}, opts)
}

// MarkUnread marks a chat as still needing handling.
func (c *Client) MarkUnread(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "MarkUnread", account, chatID, "unread", operatorField{Operator: operator}, opts)
}

// MarkRead clears a chat's unread flag.
func (c *Client) MarkRead(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "MarkRead", account, chatID, "read", operatorField{Operator: operator}, opts)
}

// CloseChat closes a chat (a no-op on a closed chat).
func (c *Client) CloseChat(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "CloseChat", account, chatID, "close", operatorField{Operator: operator}, opts)
}

// ReopenChat makes a closed chat active again (a no-op on an active one).
func (c *Client) ReopenChat(ctx context.Context, account string, chatID int64, operator string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "ReopenChat", account, chatID, "reopen", operatorField{Operator: operator}, opts)
}

// AssignChat transfers an active chat to operator, on behalf of by.
func (c *Client) AssignChat(ctx context.Context, account string, chatID int64, operator, by string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "AssignChat", account, chatID, "assign", assignBody{Operator: &operator, By: by}, opts)
}

// UnassignChat leaves an active chat without an assignee, on behalf of by.
func (c *Client) UnassignChat(ctx context.Context, account string, chatID int64, by string, opts ...Option) (*Chat, error) {
	return c.transition(ctx, "UnassignChat", account, chatID, "assign", assignBody{Operator: nil, By: by}, opts)
}

// Notifications.

// ListNotifications returns operator's notifications with id > after,
// oldest first; limit 0 means the server's default.
func (c *Client) ListNotifications(ctx context.Context, account, operator string, after int64, limit int, opts ...Option) (*NotificationPage, error) {
	p, err := operatorPath(account, operator)
	if err != nil {
		return nil, err
	}
	q := newQuery(p + "/notifications")
	q.addInt("after", after)
	if limit != 0 {
		q.addInt("limit", int64(limit))
	}
	out := new(NotificationPage)
	err = c.do(ctx, &call{op: "ListNotifications", method: http.MethodGet, path: q.String(), read: true, out: out}, opts)
	return result(out, err)
}

// NotificationsAll iterates over operator's notifications after id after,
// following next_after; pageSize 0 means the server's default.
func (c *Client) NotificationsAll(ctx context.Context, account, operator string, after int64, pageSize int, opts ...Option) iter.Seq2[Notification, error] {
	return func(yield func(Notification, error) bool) {
		for {
			page, err := c.ListNotifications(ctx, account, operator, after, pageSize, opts...)
			if err != nil {
				yield(Notification{}, err)
				return
			}
			for _, n := range page.Notifications {
				if !yield(n, nil) {
					return
				}
			}
			if page.NextAfter == nil || len(page.Notifications) == 0 {
				return
			}
			after = *page.NextAfter
		}
	}
}

// ReadNotifications marks every notification of operator's inbox with
// id <= upTo as read and returns the inbox's unread count.
func (c *Client) ReadNotifications(ctx context.Context, account, operator string, upTo int64, opts ...Option) (int, error) {
	p, err := operatorPath(account, operator)
	if err != nil {
		return 0, err
	}
	var out unreadCountBody
	err = c.do(ctx, &call{op: "ReadNotifications", method: http.MethodPost, path: p + "/notifications/read", write: true,
		body: readNotificationsBody{UpTo: upTo}, out: &out}, opts)
	return out.UnreadCount, err
}

// Keys.

// CreateKey makes an account key (admin). Its Key is shown only here.
func (c *Client) CreateKey(ctx context.Context, account string, opts ...Option) (*Key, error) {
	p, err := accountPath(account)
	if err != nil {
		return nil, err
	}
	out := new(Key)
	err = c.do(ctx, &call{op: "CreateKey", method: http.MethodPost, path: p + "/keys", write: true, out: out}, opts)
	return result(out, err)
}

// DeleteKey revokes an account key.
func (c *Client) DeleteKey(ctx context.Context, account, keyID string, opts ...Option) error {
	p, err := accountPath(account)
	if err != nil {
		return err
	}
	if keyID == "" {
		return &Error{Status: 400, Code: "invalid_field", Field: "key_id", Message: "key_id is empty"}
	}
	return c.do(ctx, &call{op: "DeleteKey", method: http.MethodDelete, path: p + "/keys/" + url.PathEscape(keyID), write: true}, opts)
}

// result returns out, or nil with err.
func result[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}
