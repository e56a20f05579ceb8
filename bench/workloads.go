package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/chatstate/chatstate/client"
)

// Targets are what the workloads act on: the dataset's big account, its
// operators and its active chats, read from the cluster after the load
// (so a cluster loaded by an earlier run serves as well).
type Targets struct {
	Account     string
	Operators   []string
	ActiveChats []int64
}

// DiscoverTargets reads account's operators and active chats.
func DiscoverTargets(ctx context.Context, c *client.Client, account string) (Targets, error) {
	t := Targets{Account: account}
	ops, err := c.ListOperators(ctx, account)
	if err != nil {
		return t, fmt.Errorf("%w: operators of %s: %v", ErrSetup, account, err)
	}
	for _, op := range ops {
		t.Operators = append(t.Operators, op.ID)
	}
	for chat, err := range c.ListChatsAll(ctx, account, client.ListChatsRequest{
		ChatFilter: client.ChatFilter{Status: client.StatusActive}, Limit: 500}) {
		if err != nil {
			return t, fmt.Errorf("%w: active chats of %s: %v", ErrSetup, account, err)
		}
		t.ActiveChats = append(t.ActiveChats, chat.ID)
	}
	if len(t.Operators) == 0 || len(t.ActiveChats) == 0 {
		return t, fmt.Errorf("%w: account %s has %d operators and %d active chats; the workloads need some of both (load the dataset first)",
			ErrSetup, account, len(t.Operators), len(t.ActiveChats))
	}
	return t, nil
}

// Texts cuts message texts of an exact length from a fixed corpus of
// support-chat words (ASCII, so any cut is valid UTF-8).
type Texts struct {
	corpus string
	n      int
}

var textWords = []string{
	"hello", "thanks", "please", "order", "invoice", "payment", "account", "password",
	"reset", "login", "cannot", "error", "page", "shipping", "delivery", "refund",
	"return", "the", "my", "is", "was", "not", "working", "since", "yesterday", "help",
	"question", "about", "plan", "upgrade", "price", "card", "declined", "address",
	"change", "email", "we", "will", "check", "this", "for", "it", "should", "be",
	"fixed", "now", "could", "send", "screenshot", "link", "browser", "app", "update",
}

// NewTexts returns texts of n bytes (n >= 1).
func NewTexts(n int, seed uint64) Texts {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for b.Len() < 64<<10+n {
		b.WriteString(textWords[rng.IntN(len(textWords))])
		b.WriteByte(' ')
	}
	return Texts{corpus: b.String(), n: n}
}

// Next returns a text of the configured length.
func (t Texts) Next(rng *rand.Rand) string {
	off := rng.IntN(len(t.corpus) - t.n)
	return t.corpus[off : off+t.n]
}

// CustomerMessages is W1 and W2: each operation is a customer message to
// one of the account's active chats, drawn at random.
func CustomerMessages(c *client.Client, t Targets, texts Texts) NewOp {
	return func(_ int, rng *rand.Rand) Op {
		return func(ctx context.Context) (OpKind, error) {
			chat := t.ActiveChats[rng.IntN(len(t.ActiveChats))]
			_, err := c.SendMessage(ctx, t.Account, chat, client.Customer(), texts.Next(rng))
			return KindWrite, err
		}
	}
}

// pageSize is the list page every read workload asks for.
const pageSize = 50

var (
	allContactTypes = []client.ContactType{client.ContactTypeContact, client.ContactTypeVisitor}
	allSources      = []client.Source{client.SourceEmail, client.SourceLandingPage, client.SourceChatPage, client.SourceExternalPage}
)

// ListFilterKinds names R1's filters, in the order ListFilter draws them.
var ListFilterKinds = []string{
	"active, operator",
	"active, unassigned",
	"closed, contact type",
	"closed, source",
	"closed, operator and source",
}

// ListFilter returns the filter of kind k (an index of ListFilterKinds)
// with its operator, contact type or source drawn at random.
func ListFilter(k int, t Targets, rng *rand.Rand) client.ChatFilter {
	op := func() string { return t.Operators[rng.IntN(len(t.Operators))] }
	switch k {
	case 0:
		return client.ChatFilter{Status: client.StatusActive, Operator: op()}
	case 1:
		return client.ChatFilter{Status: client.StatusActive, Unassigned: true}
	case 2:
		return client.ChatFilter{Status: client.StatusClosed, ContactType: allContactTypes[rng.IntN(len(allContactTypes))]}
	case 3:
		return client.ChatFilter{Status: client.StatusClosed, Source: allSources[rng.IntN(len(allSources))]}
	default:
		return client.ChatFilter{Status: client.StatusClosed, Operator: op(), Source: allSources[rng.IntN(len(allSources))]}
	}
}

// ListPages is R1: each operation reads the first page (50 chats) of a
// list whose filter is drawn uniformly from ListFilterKinds.
func ListPages(c *client.Client, t Targets) NewOp {
	return func(_ int, rng *rand.Rand) Op {
		return func(ctx context.Context) (OpKind, error) {
			f := ListFilter(rng.IntN(len(ListFilterKinds)), t, rng)
			_, err := c.ListChats(ctx, t.Account, client.ListChatsRequest{ChatFilter: f, Limit: pageSize})
			return KindRead, err
		}
	}
}

// MixConfig shapes M1.
type MixConfig struct {
	// ReadsPerWrite is the mean number of reads per write (9: one
	// operation in ten writes).
	ReadsPerWrite float64
	// ChatsPerWorker is how many conversations each worker keeps going
	// at once.
	ChatsPerWorker int
}

// conversation steps of M1, in order; after the last the chat is done and
// a new one starts.
const (
	stepNew = iota
	stepTake
	stepCustomerAgain
	stepJoin
	stepHelperReply
	stepLeave
	stepMarkUnread
	stepClose
	numSteps
)

// MixStepNames names M1's write steps.
var MixStepNames = [numSteps]string{
	"new chat (customer)", "reply that assigns", "customer message", "join",
	"reply by the joined operator", "leave", "mark unread", "close",
}

// conversation is one chat a worker is walking through an operator's day.
type conversation struct {
	chat     int64
	step     int
	assignee string
	helper   string
}

// OperatorsDay is M1: an operators' day on the big account. Writes walk
// each worker's conversations through their life (a customer starts a
// chat, an operator's reply takes it, the customer answers, a colleague
// joins, replies and leaves, the chat is marked unread, then closed); reads
// are list pages (two thirds, R1's filters) and badge counts (one third),
// ReadsPerWrite of them per write on average.
func OperatorsDay(c *client.Client, t Targets, texts Texts, mc MixConfig) NewOp {
	writeShare := 1 / (1 + mc.ReadsPerWrite)
	return func(_ int, rng *rand.Rand) Op {
		convs := make([]conversation, max(1, mc.ChatsPerWorker))
		return func(ctx context.Context) (OpKind, error) {
			if rng.Float64() >= writeShare {
				if rng.IntN(3) < 2 {
					f := ListFilter(rng.IntN(len(ListFilterKinds)), t, rng)
					_, err := c.ListChats(ctx, t.Account, client.ListChatsRequest{ChatFilter: f, Limit: pageSize})
					return KindRead, err
				}
				status := client.StatusActive
				if rng.IntN(2) == 0 {
					status = client.StatusClosed
				}
				_, err := c.CountChats(ctx, t.Account, client.CountsRequest{Status: status})
				return KindRead, err
			}
			cv := &convs[rng.IntN(len(convs))]
			err := advance(ctx, c, t.Account, t.Operators, cv, rng, texts)
			if err != nil {
				// Start over with a new chat rather than repeat a step
				// the chat's state may now refuse.
				*cv = conversation{}
			}
			return KindWrite, err
		}
	}
}

// advance performs cv's next step.
func advance(ctx context.Context, c *client.Client, account string, operators []string, cv *conversation, rng *rand.Rand, texts Texts) error {
	op := func() string { return operators[rng.IntN(len(operators))] }
	var err error
	switch cv.step {
	case stepNew:
		var chat *client.Chat
		chat, err = c.CreateChat(ctx, account, client.CreateChatRequest{
			Contact: client.Contact{Type: allContactTypes[rng.IntN(len(allContactTypes))]},
			Source:  allSources[rng.IntN(len(allSources))],
			Text:    texts.Next(rng),
		})
		if err == nil {
			*cv = conversation{chat: chat.ID, assignee: op()}
			if len(operators) > 1 {
				for cv.helper = op(); cv.helper == cv.assignee; cv.helper = op() {
				}
			}
		}
	case stepTake:
		_, err = c.SendMessage(ctx, account, cv.chat, client.OperatorAuthor(cv.assignee), texts.Next(rng))
	case stepCustomerAgain:
		_, err = c.SendMessage(ctx, account, cv.chat, client.Customer(), texts.Next(rng))
	case stepJoin:
		_, err = c.JoinChat(ctx, account, cv.chat, cv.helper)
	case stepHelperReply:
		_, err = c.SendMessage(ctx, account, cv.chat, client.OperatorAuthor(cv.helper), texts.Next(rng))
	case stepLeave:
		_, err = c.LeaveChat(ctx, account, cv.chat, cv.helper)
	case stepMarkUnread:
		_, err = c.MarkUnread(ctx, account, cv.chat, cv.assignee)
	case stepClose:
		_, err = c.CloseChat(ctx, account, cv.chat, cv.assignee)
	}
	if err != nil {
		return fmt.Errorf("M1 %s: %w", MixStepNames[cv.step], err)
	}
	cv.step = (cv.step + 1) % numSteps
	if cv.helper == "" && cv.step == stepJoin {
		// A one-operator account (tiny scales) has nobody to join.
		cv.step = stepMarkUnread
	}
	return nil
}
