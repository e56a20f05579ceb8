package client_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/client"
)

// pagedNode serves n chats, n messages and n notifications in pages of
// the asked limit: chats by an opaque cursor, the others by after.
func pagedNode(t *testing.T, n int) *fakeNode {
	return newFakeNode(t, func(ctx *fasthttp.RequestCtx) {
		args := ctx.QueryArgs()
		limit, err := strconv.Atoi(string(args.Peek("limit")))
		if err != nil {
			limit = 50
		}
		path := string(ctx.Path())
		switch {
		case strings.HasSuffix(path, "/chats"):
			start := 0
			if cur := string(args.Peek("cursor")); cur != "" {
				start, err = strconv.Atoi(strings.TrimPrefix(cur, "c:"))
				if err != nil {
					apiError(ctx, 400, "invalid_field", "bad cursor")
					return
				}
			}
			end := min(start+limit, n)
			var items []string
			for i := start; i < end; i++ {
				items = append(items, strings.Replace(chatJSON, `"id":42`, `"id":`+strconv.Itoa(n-i), 1))
			}
			next := "null"
			if end < n {
				next = `"c:` + strconv.Itoa(end) + `"`
			}
			answer(ctx, 200, `{"chats":[`+strings.Join(items, ",")+`],"next_cursor":`+next+`}`)
		case strings.HasSuffix(path, "/messages"), strings.HasSuffix(path, "/notifications"):
			after, _ := strconv.Atoi(string(args.Peek("after")))
			end := min(after+limit, n)
			var items []string
			for i := after + 1; i <= end; i++ {
				if strings.HasSuffix(path, "/messages") {
					items = append(items, `{"seq":`+strconv.Itoa(i)+`,"author":{"type":"customer"},"text":"m","at":"2026-11-23T18:00:00.000Z"}`)
				} else {
					items = append(items, `{"id":`+strconv.Itoa(i)+`,"type":"new_message","recipient":"ann","chat_id":1,"operator":null,"at":"2026-11-23T18:00:00.000Z","read":false}`)
				}
			}
			next := "null"
			if end < n {
				next = strconv.Itoa(end)
			}
			key := "messages"
			extra := ""
			if strings.HasSuffix(path, "/notifications") {
				key, extra = "notifications", `,"unread_count":`+strconv.Itoa(n)
			}
			answer(ctx, 200, `{"`+key+`":[`+strings.Join(items, ",")+`],"next_after":`+next+extra+`}`)
		default:
			apiError(ctx, 404, "not_found", "no route")
		}
	})
}

func TestListChatsAllFollowsCursor(t *testing.T) {
	node := pagedNode(t, 7)
	c := newClient(t, []string{node.Addr})
	var ids []int64
	req := client.ListChatsRequest{ChatFilter: client.ChatFilter{Status: client.StatusClosed, Operator: "ann"}, Limit: 3}
	for chat, err := range c.ListChatsAll(context.Background(), "acme", req) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, chat.ID)
	}
	if want := []int64{7, 6, 5, 4, 3, 2, 1}; !equalInts(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	reqs := node.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d pages fetched, want 3", len(reqs))
	}
	wantCursors := []string{"", "c:3", "c:6"}
	for i, r := range reqs {
		if r.Query["cursor"] != wantCursors[i] || r.Query["status"] != "closed" || r.Query["operator"] != "ann" || r.Query["limit"] != "3" {
			t.Fatalf("page %d query %v", i, r.Query)
		}
	}

	// Breaking out early fetches no further page.
	before := len(node.Requests())
	for range c.ListChatsAll(context.Background(), "acme", req) {
		break
	}
	if got := len(node.Requests()) - before; got != 1 {
		t.Fatalf("an early break fetched %d pages", got)
	}
}

func TestMessagesAndNotificationsAllFollowAfter(t *testing.T) {
	node := pagedNode(t, 5)
	c := newClient(t, []string{node.Addr})
	var seqs []int64
	for m, err := range c.MessagesAll(context.Background(), "acme", 1, 0, 2) {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, m.Seq)
	}
	if !equalInts(seqs, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("seqs %v", seqs)
	}
	var ids []int64
	for n, err := range c.NotificationsAll(context.Background(), "acme", "ann", 1, 3) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	if !equalInts(ids, []int64{2, 3, 4, 5}) {
		t.Fatalf("ids %v", ids)
	}
	var afters []string
	for _, r := range node.Requests() {
		afters = append(afters, r.Query["after"])
	}
	if got := strings.Join(afters, ","); got != "0,2,4,1,4" {
		t.Fatalf("after parameters %s", got)
	}
}

// An error ends the iteration after being yielded.
func TestIterationYieldsError(t *testing.T) {
	node := newFakeNode(t, func(ctx *fasthttp.RequestCtx) { apiError(ctx, 404, "not_found", "account nope does not exist") })
	c := newClient(t, []string{node.Addr})
	n := 0
	for _, err := range c.ListChatsAll(context.Background(), "nope", client.ListChatsRequest{}) {
		n++
		if !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d iterations, want 1", n)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
