package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/chatstate/chatstate/client"
)

// Every endpoint of API.md: the method, path, query and body each typed
// method sends.
func TestEndpoints(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.IsDelete() {
			ctx.SetStatusCode(204)
			return
		}
		answer(ctx, 200, "{}")
	})
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Token = "s3cret" })
	ctx := context.Background()
	var buf bytes.Buffer
	tests := []struct {
		name   string
		call   func() error
		method string
		path   string
		query  map[string]string
		body   string // JSON; "" for none
	}{
		{"PutAccount", func() error { _, err := c.PutAccount(ctx, "acme", "Acme"); return err },
			"PUT", "/v1/accounts/acme", nil, `{"name":"Acme"}`},
		{"GetAccount", func() error { _, err := c.GetAccount(ctx, "acme"); return err },
			"GET", "/v1/accounts/acme", nil, ""},
		{"ListAccounts", func() error { _, err := c.ListAccounts(ctx); return err },
			"GET", "/v1/accounts", nil, ""},
		{"PutOperator", func() error {
			_, err := c.PutOperator(ctx, "acme", "ann", client.OperatorRequest{Name: "Ann", Email: client.String("ann@example.com")})
			return err
		}, "PUT", "/v1/accounts/acme/operators/ann", nil, `{"name":"Ann","email":"ann@example.com"}`},
		{"PutOperator without email", func() error {
			_, err := c.PutOperator(ctx, "acme", "bob", client.OperatorRequest{Name: "Bob"})
			return err
		}, "PUT", "/v1/accounts/acme/operators/bob", nil, `{"name":"Bob"}`},
		{"GetOperator", func() error { _, err := c.GetOperator(ctx, "acme", "ann"); return err },
			"GET", "/v1/accounts/acme/operators/ann", nil, ""},
		{"ListOperators", func() error { _, err := c.ListOperators(ctx, "acme"); return err },
			"GET", "/v1/accounts/acme/operators", nil, ""},
		{"DeleteOperator", func() error { return c.DeleteOperator(ctx, "acme", "bob") },
			"DELETE", "/v1/accounts/acme/operators/bob", nil, ""},
		{"CreateChat", func() error {
			_, err := c.CreateChat(ctx, "acme", client.CreateChatRequest{
				Contact: client.Contact{Type: client.ContactTypeContact, ID: client.String("c-1"), Email: client.String("j@x.org")},
				Source:  client.SourceEmail, Text: "Hi",
			})
			return err
		}, "POST", "/v1/accounts/acme/chats", nil, `{"contact":{"id":"c-1","type":"contact","email":"j@x.org"},"source":"email","text":"Hi"}`},
		{"GetChat", func() error { _, err := c.GetChat(ctx, "acme", 7); return err },
			"GET", "/v1/accounts/acme/chats/7", nil, ""},
		{"ListChats no filter", func() error { _, err := c.ListChats(ctx, "acme", client.ListChatsRequest{}); return err },
			"GET", "/v1/accounts/acme/chats", map[string]string{}, ""},
		{"ListChats every filter", func() error {
			_, err := c.ListChats(ctx, "acme", client.ListChatsRequest{
				ChatFilter: client.ChatFilter{Status: client.StatusClosed, Operator: "ann", ContactType: client.ContactTypeVisitor,
					Source: client.SourceChatPage, Unread: client.Bool(false)},
				Limit: 20, Cursor: "a+b/c=",
			})
			return err
		}, "GET", "/v1/accounts/acme/chats", map[string]string{"status": "closed", "operator": "ann", "contact_type": "visitor",
			"source": "chat_page", "unread": "false", "limit": "20", "cursor": "a+b/c="}, ""},
		{"ListChats unassigned", func() error {
			_, err := c.ListChats(ctx, "acme", client.ListChatsRequest{ChatFilter: client.ChatFilter{Unassigned: true, Unread: client.Bool(true)}})
			return err
		}, "GET", "/v1/accounts/acme/chats", map[string]string{"operator": "unassigned", "unread": "true"}, ""},
		{"CountChats", func() error {
			_, err := c.CountChats(ctx, "acme", client.CountsRequest{Status: client.StatusActive, Source: client.SourceEmail})
			return err
		}, "GET", "/v1/accounts/acme/chats/counts", map[string]string{"status": "active", "source": "email"}, ""},
		{"ListMessages", func() error { _, err := c.ListMessages(ctx, "acme", 7, 0, 100); return err },
			"GET", "/v1/accounts/acme/chats/7/messages", map[string]string{"after": "0", "limit": "100"}, ""},
		{"SendMessage customer", func() error { _, err := c.SendMessage(ctx, "acme", 7, client.Customer(), "hello?"); return err },
			"POST", "/v1/accounts/acme/chats/7/messages", nil, `{"author":{"type":"customer"},"text":"hello?"}`},
		{"SendMessage operator", func() error {
			_, err := c.SendMessage(ctx, "acme", 7, client.OperatorAuthor("ann"), "on it")
			return err
		}, "POST", "/v1/accounts/acme/chats/7/messages", nil, `{"author":{"type":"operator","id":"ann"},"text":"on it"}`},
		{"JoinChat", func() error { _, err := c.JoinChat(ctx, "acme", 7, "bob"); return err },
			"POST", "/v1/accounts/acme/chats/7/join", nil, `{"operator":"bob"}`},
		{"LeaveChat", func() error { _, err := c.LeaveChat(ctx, "acme", 7, "bob"); return err },
			"POST", "/v1/accounts/acme/chats/7/leave", nil, `{"operator":"bob"}`},
		{"MarkUnread", func() error { _, err := c.MarkUnread(ctx, "acme", 7, "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/unread", nil, `{"operator":"ann"}`},
		{"MarkRead", func() error { _, err := c.MarkRead(ctx, "acme", 7, "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/read", nil, `{"operator":"ann"}`},
		{"CloseChat", func() error { _, err := c.CloseChat(ctx, "acme", 7, "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/close", nil, `{"operator":"ann"}`},
		{"ReopenChat", func() error { _, err := c.ReopenChat(ctx, "acme", 7, "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/reopen", nil, `{"operator":"ann"}`},
		{"AssignChat", func() error { _, err := c.AssignChat(ctx, "acme", 7, "cid", "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/assign", nil, `{"operator":"cid","by":"ann"}`},
		{"UnassignChat", func() error { _, err := c.UnassignChat(ctx, "acme", 7, "ann"); return err },
			"POST", "/v1/accounts/acme/chats/7/assign", nil, `{"operator":null,"by":"ann"}`},
		{"ListNotifications", func() error { _, err := c.ListNotifications(ctx, "acme", "ann", 5, 0); return err },
			"GET", "/v1/accounts/acme/operators/ann/notifications", map[string]string{"after": "5"}, ""},
		{"ReadNotifications", func() error { _, err := c.ReadNotifications(ctx, "acme", "ann", 12); return err },
			"POST", "/v1/accounts/acme/operators/ann/notifications/read", nil, `{"up_to":12}`},
		{"CreateKey", func() error { _, err := c.CreateKey(ctx, "acme"); return err },
			"POST", "/v1/accounts/acme/keys", nil, ""},
		{"DeleteKey", func() error { return c.DeleteKey(ctx, "acme", "k1") },
			"DELETE", "/v1/accounts/acme/keys/k1", nil, ""},
		{"Status", func() error { _, err := c.Status(ctx); return err },
			"GET", "/v1/status", nil, ""},
		{"Health", func() error { return c.Health(ctx, node.Addr) }, "GET", "/healthz", nil, ""},
		{"Ready", func() error { return c.Ready(ctx, node.Addr) }, "GET", "/readyz", nil, ""},
		{"JoinCluster", func() error {
			_, err := c.JoinCluster(ctx, client.JoinRequest{ID: "n2", Raft: "127.0.0.1:9002", HTTP: "127.0.0.1:8002"})
			return err
		}, "POST", "/v1/cluster/join", nil, `{"id":"n2","raft":"127.0.0.1:9002","http":"127.0.0.1:8002"}`},
		{"RemoveNode", func() error { _, err := c.RemoveNode(ctx, "n2"); return err }, "DELETE", "/v1/cluster/nodes/n2", nil, ""},
		{"Snapshot", func() error { _, err := c.Snapshot(ctx); return err }, "POST", "/v1/cluster/snapshot", nil, ""},
		{"Backup", func() error { _, err := c.Backup(ctx, &buf); return err }, "GET", "/v1/cluster/backup", nil, ""},
		{"consistency and min_index", func() error {
			_, err := c.GetChat(ctx, "acme", 7, client.WithConsistency(client.ConsistencyStale), client.WithMinIndex(1234, 1500*time.Millisecond))
			return err
		}, "GET", "/v1/accounts/acme/chats/7", map[string]string{"consistency": "stale", "min_index": "1234", "wait": "1.5s"}, ""},
		{"linearizable list", func() error {
			_, err := c.ListChats(ctx, "acme", client.ListChatsRequest{Limit: 1}, client.WithConsistency(client.ConsistencyLinearizable))
			return err
		}, "GET", "/v1/accounts/acme/chats", map[string]string{"consistency": "linearizable", "limit": "1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			r := node.next(t)
			if r.Method != tt.method || r.Path != tt.path {
				t.Fatalf("sent %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			if tt.query != nil && !reflect.DeepEqual(r.Query, tt.query) {
				t.Fatalf("query %v, want %v", r.Query, tt.query)
			}
			if got := strings.TrimSpace(string(r.Body)); got != tt.body {
				t.Fatalf("body %s, want %s", got, tt.body)
			}
			if tt.body != "" && r.ContentType != "application/json" {
				t.Fatalf("Content-Type %q", r.ContentType)
			}
			if r.Auth != "Bearer s3cret" {
				t.Fatalf("Authorization %q", r.Auth)
			}
			write := tt.method != "GET"
			if write != (r.Key != "") {
				t.Fatalf("Idempotency-Key %q on a %s", r.Key, tt.method)
			}
		})
	}
}

// The same bodies decode to the same values from JSON and MessagePack,
// with times parsed and nulls as nil.
func TestDecodeJSONAndMsgpackAlike(t *testing.T) {
	notification := `{"id":3,"type":"operator_joined","recipient":"ann","chat_id":42,"operator":"bob","at":"2026-11-23T18:06:00.000Z","read":false}`
	system := `{"seq":4,"author":{"type":"system"},"event":"operator_joined","operator":"bob","text":"","at":"2026-11-23T18:06:00.000Z"}`
	bodies := map[string]string{
		"chat":          chatJSON,
		"account":       `{"id":"acme","name":"Acme","created_at":"2026-11-23T18:00:00.123Z"}`,
		"operators":     `{"operators":[{"id":"ann","name":"Ann","email":"ann@example.com","created_at":"2026-11-23T18:00:00.123Z","active_chats":2},{"id":"bob","name":"Bob","email":null,"created_at":"2026-11-23T18:00:01.000Z","active_chats":0}]}`,
		"chats":         `{"chats":[` + chatJSON + `],"next_cursor":"abc"}`,
		"last chats":    `{"chats":[],"next_cursor":null}`,
		"messages":      `{"messages":[` + system + `],"next_after":4}`,
		"notifications": `{"notifications":[` + notification + `],"unread_count":1,"next_after":null}`,
		"counts":        `{"status":"active","all":120,"unassigned":14,"unread":30,"operators":{"ann":50,"bob":56},"contact_types":{"contact":70,"visitor":50},"sources":{"email":10,"landing_page":40,"chat_page":60,"external_page":10}}`,
		"message":       `{"message":{"seq":5,"author":{"type":"operator","id":"ann"},"text":"on it","at":"2026-11-23T18:07:00.000Z"},"chat":` + chatJSON + `}`,
		"status":        `{"id":"n1","state":"leader","leader":{"id":"n1","http":"127.0.0.1:8080","raft":"127.0.0.1:8089"},"term":3,"commit_index":100,"applied_index":100,"last_snapshot":null,"nodes":[{"id":"n1","http":"127.0.0.1:8080","raft":"127.0.0.1:8089","suffrage":"voter"}],"version":"dev"}`,
	}
	calls := map[string]func(c *client.Client) (any, error){
		"chat":      func(c *client.Client) (any, error) { return c.GetChat(context.Background(), "acme", 42) },
		"account":   func(c *client.Client) (any, error) { return c.GetAccount(context.Background(), "acme") },
		"operators": func(c *client.Client) (any, error) { return c.ListOperators(context.Background(), "acme") },
		"chats": func(c *client.Client) (any, error) {
			return c.ListChats(context.Background(), "acme", client.ListChatsRequest{})
		},
		"last chats": func(c *client.Client) (any, error) {
			return c.ListChats(context.Background(), "acme", client.ListChatsRequest{})
		},
		"messages": func(c *client.Client) (any, error) { return c.ListMessages(context.Background(), "acme", 42, 0, 0) },
		"notifications": func(c *client.Client) (any, error) {
			return c.ListNotifications(context.Background(), "acme", "ann", 0, 0)
		},
		"counts": func(c *client.Client) (any, error) {
			return c.CountChats(context.Background(), "acme", client.CountsRequest{})
		},
		"message": func(c *client.Client) (any, error) {
			return c.SendMessage(context.Background(), "acme", 42, client.OperatorAuthor("ann"), "on it")
		},
		"status": func(c *client.Client) (any, error) { return c.Status(context.Background()) },
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			mp := jsonToMsgpack(t, body)
			node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
				if string(ctx.Request.Header.Peek("Accept")) == "application/msgpack" {
					ctx.SetContentType("application/msgpack")
					ctx.SetBody(mp)
					return
				}
				answer(ctx, 200, body)
			})
			cj := newClient(t, []string{node.Addr})
			cm := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Encoding = client.MessagePack })
			fromJSON, err := calls[name](cj)
			if err != nil {
				t.Fatal(err)
			}
			fromMsgpack, err := calls[name](cm)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromJSON, fromMsgpack) {
				t.Fatalf("JSON and MessagePack differ:\n%+v\n%+v", fromJSON, fromMsgpack)
			}
		})
	}

	// Spot checks of the decoded chat.
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/msgpack")
		ctx.SetBody(jsonToMsgpack(t, chatJSON))
	})
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Encoding = client.MessagePack })
	chat, err := c.GetChat(context.Background(), "acme", 42)
	if err != nil {
		t.Fatal(err)
	}
	if r := node.Requests()[0]; r.Accept != "application/msgpack" {
		t.Fatalf("Accept %q", r.Accept)
	}
	want := time.Date(2026, 11, 23, 18, 5, 0, 456e6, time.UTC)
	switch {
	case chat.ID != 42 || chat.Status != client.StatusActive || chat.Source != client.SourceLandingPage:
		t.Fatalf("chat %+v", chat)
	case chat.Assignee == nil || *chat.Assignee != "ann" || chat.ClosedBy != nil || chat.ClosedAt != nil || chat.FirstReplyAt != nil:
		t.Fatalf("nullable fields %+v", chat)
	case chat.Contact.ID == nil || *chat.Contact.ID != "v-93f" || chat.Contact.Email != nil:
		t.Fatalf("contact %+v", chat.Contact)
	case !chat.LastActivityAt.Equal(want) || chat.LastActivityAt.Location() != time.UTC || chat.WaitingSince == nil:
		t.Fatalf("times %v %v", chat.LastActivityAt, chat.WaitingSince)
	case chat.LastMessage == nil || chat.LastMessage.Seq != 3 || chat.LastMessage.Author.Type != client.AuthorCustomer || !chat.LastMessage.At.Equal(want):
		t.Fatalf("last message %+v", chat.LastMessage)
	}
}

// MessagePack request bodies carry the same names as JSON.
func TestMsgpackRequestBody(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/msgpack")
		ctx.SetBody(jsonToMsgpack(t, chatJSON))
	})
	c := newClient(t, []string{node.Addr}, func(cfg *client.Config) { cfg.Encoding = client.MessagePack })
	if _, err := c.UnassignChat(context.Background(), "acme", 42, "ann"); err != nil {
		t.Fatal(err)
	}
	r := node.Requests()[0]
	if r.ContentType != "application/msgpack" {
		t.Fatalf("Content-Type %q", r.ContentType)
	}
	var got map[string]any
	if err := msgpack.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]any{"operator": nil, "by": "ann"}) {
		t.Fatalf("body %v", got)
	}
}

// jsonToMsgpack re-encodes a JSON document as MessagePack the way the
// server does: integers as integers, times as strings.
func jsonToMsgpack(t testing.TB, doc string) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err := msgpack.Marshal(intsOf(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func intsOf(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, x := range v {
			v[k] = intsOf(x)
		}
	case []any:
		for i, x := range v {
			v[i] = intsOf(x)
		}
	}
	return v
}
