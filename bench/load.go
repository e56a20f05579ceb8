package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstate/chatstate/client"
	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/fsm/dataset"
)

// LoadResult describes a dataset load.
type LoadResult struct {
	Accounts  int     `json:"accounts"`
	Operators int     `json:"operators"`
	Chats     int     `json:"chats"`
	Commands  int     `json:"commands"`
	Seconds   float64 `json:"seconds"`
	// Rate is API writes per second over the whole load.
	Rate    float64 `json:"rate"`
	Clients int     `json:"clients"`
}

// LoadProgress is the live state of a load, for the progress line.
type LoadProgress struct {
	// Commands counts writes completed; Chats counts chats created.
	Commands atomic.Int64
	Chats    atomic.Int64
	// TotalChats is the number of chats the dataset has.
	TotalChats int64
}

// loaderQueue is the depth of each client's queue of commands.
const loaderQueue = 64

// Load writes the dataset cfg describes through the API with clients
// concurrent clients, so that group commit can merge their writes into few
// log entries. Accounts go first, then operators, then the chats'
// histories: every command of one chat goes to the same client, in the
// dataset's order, so each chat sees its history as the generator planned
// it while thousands of chats progress at once.
//
// The dataset predicts chat ids (per account, in creation order); with
// concurrent creates the server assigns them in another order, so each
// client maps the predicted id to the one CreateChat returned.
//
// Writes are sent without Idempotency-Key: the cluster would otherwise
// remember a response for every one of millions of writes for 24 hours,
// a memory cost the workloads would then run beside. The first failed
// write stops the load.
func Load(ctx context.Context, c *client.Client, cfg dataset.Config, clients int, prog *LoadProgress) (LoadResult, error) {
	shape, err := cfg.Shape()
	if err != nil {
		return LoadResult{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if clients < 1 {
		return LoadResult{}, fmt.Errorf("%w: %d load clients", ErrInvalidConfig, clients)
	}
	if prog == nil {
		prog = new(LoadProgress)
	}
	prog.TotalChats = int64(shape.Chats)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	l := &loader{c: c, prog: prog, cancel: cancel, seed: maphash.MakeSeed(),
		nextChat: make(map[string]int64)}
	l.workers = make([]*loadWorker, clients)
	for i := range l.workers {
		w := &loadWorker{l: l, queue: make(chan loadItem, loaderQueue), chats: make(map[chatKey]int64)}
		l.workers[i] = w
		l.wg.Add(1)
		go w.run(ctx)
	}
	start := time.Now()
	stats, genErr := dataset.Generate(cfg, l.dispatch(ctx))
	for _, w := range l.workers {
		close(w.queue)
	}
	l.wg.Wait()
	elapsed := time.Since(start)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return LoadResult{}, fmt.Errorf("%w: %v", ErrLoad, cause)
	}
	if genErr != nil {
		return LoadResult{}, fmt.Errorf("%w: %v", ErrLoad, genErr)
	}
	if err := ctx.Err(); err != nil {
		return LoadResult{}, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	return LoadResult{
		Accounts:  stats.Accounts,
		Operators: stats.Operators,
		Chats:     stats.Chats,
		Commands:  stats.Commands,
		Seconds:   elapsed.Seconds(),
		Rate:      float64(stats.Commands) / elapsed.Seconds(),
		Clients:   clients,
	}, nil
}

type loader struct {
	c       *client.Client
	prog    *LoadProgress
	cancel  context.CancelCauseFunc
	seed    maphash.Seed
	workers []*loadWorker
	wg      sync.WaitGroup

	// Used by dispatch only (the generator's goroutine).
	phase    fsm.CommandType // the kind of command being dispatched: accounts, operators, chats
	rr       int             // round-robin position for accounts and operators
	nextChat map[string]int64
	pending  sync.WaitGroup // commands of the current phase not yet done
}

// chatKey names a chat by the id the dataset predicted for it.
type chatKey struct {
	account string
	chat    int64
}

type loadItem struct {
	cmd fsm.Command
	key chatKey // for chat commands
}

// dispatch returns the generator's emit function: it routes each command
// to a client, and waits for every account (then every operator) to be
// written before the next kind of command goes out.
func (l *loader) dispatch(ctx context.Context) func(fsm.Command) error {
	return func(cmd fsm.Command) error {
		phase := phaseOf(cmd.Type())
		if phase != l.phase {
			// Accounts before operators before chats: wait for the
			// previous kind to be written.
			l.pending.Wait()
			l.phase = phase
		}
		var w *loadWorker
		item := loadItem{cmd: cmd}
		if phase == fsm.CmdCreateChat {
			acct := cmd.Head().Account
			if cmd.Type() == fsm.CmdCreateChat {
				l.nextChat[acct]++
				item.key = chatKey{acct, l.nextChat[acct]}
			} else {
				item.key = chatKey{acct, chatOf(cmd)}
			}
			var h maphash.Hash
			h.SetSeed(l.seed)
			h.WriteString(item.key.account)
			var b [8]byte
			for i := range b {
				b[i] = byte(item.key.chat >> (8 * i))
			}
			h.Write(b[:])
			w = l.workers[h.Sum64()%uint64(len(l.workers))]
		} else {
			w = l.workers[l.rr%len(l.workers)]
			l.rr++
		}
		l.pending.Add(1)
		select {
		case w.queue <- item:
			return nil
		case <-ctx.Done():
			l.pending.Done()
			return context.Cause(ctx)
		}
	}
}

// phaseOf groups command types into the load's three phases.
func phaseOf(t fsm.CommandType) fsm.CommandType {
	switch t {
	case fsm.CmdUpsertAccount, fsm.CmdUpsertOperator:
		return t
	}
	return fsm.CmdCreateChat
}

// chatOf returns the chat a chat command names.
func chatOf(cmd fsm.Command) int64 {
	switch c := cmd.(type) {
	case *fsm.CustomerMessage:
		return c.Chat
	case *fsm.OperatorMessage:
		return c.Chat
	case *fsm.Join:
		return c.Chat
	case *fsm.Leave:
		return c.Chat
	case *fsm.MarkRead:
		return c.Chat
	case *fsm.MarkUnread:
		return c.Chat
	case *fsm.Close:
		return c.Chat
	case *fsm.Reopen:
		return c.Chat
	case *fsm.Assign:
		return c.Chat
	}
	return 0
}

type loadWorker struct {
	l     *loader
	queue chan loadItem
	// chats maps the dataset's chat ids to the server's, for the chats
	// this worker created.
	chats map[chatKey]int64
}

func (w *loadWorker) run(ctx context.Context) {
	defer w.l.wg.Done()
	for item := range w.queue {
		if ctx.Err() == nil {
			if err := w.send(ctx, item); err != nil {
				w.l.cancel(fmt.Errorf("%T on %s chat %d: %w", item.cmd, item.key.account, item.key.chat, err))
			} else {
				w.l.prog.Commands.Add(1)
			}
		}
		w.l.pending.Done()
	}
}

// send translates one dataset command into its API call.
func (w *loadWorker) send(ctx context.Context, item loadItem) error {
	c := w.l.c
	noKey := client.WithoutIdempotencyKey()
	acct := item.cmd.Head().Account
	chatID := func() (int64, error) {
		id, ok := w.chats[item.key]
		if !ok {
			return 0, fmt.Errorf("chat %d was never created", item.key.chat)
		}
		return id, nil
	}
	switch cmd := item.cmd.(type) {
	case *fsm.UpsertAccount:
		_, err := c.PutAccount(ctx, acct, cmd.Name, noKey)
		return err
	case *fsm.UpsertOperator:
		_, err := c.PutOperator(ctx, acct, cmd.Operator, client.OperatorRequest{Name: cmd.Name, Email: cmd.Email}, noKey)
		return err
	case *fsm.CreateChat:
		chat, err := c.CreateChat(ctx, acct, client.CreateChatRequest{
			Contact: client.Contact{
				ID:    cmd.Contact.ID,
				Type:  client.ContactType(cmd.Contact.Type.String()),
				Name:  cmd.Contact.Name,
				Email: cmd.Contact.Email,
			},
			Source: client.Source(cmd.Source.String()),
			Text:   cmd.Text,
		}, noKey)
		if err != nil {
			return err
		}
		w.chats[item.key] = chat.ID
		w.l.prog.Chats.Add(1)
		return nil
	}
	id, err := chatID()
	if err != nil {
		return err
	}
	switch cmd := item.cmd.(type) {
	case *fsm.CustomerMessage:
		_, err = c.SendMessage(ctx, acct, id, client.Customer(), cmd.Text, noKey)
	case *fsm.OperatorMessage:
		_, err = c.SendMessage(ctx, acct, id, client.OperatorAuthor(cmd.Operator), cmd.Text, noKey)
	case *fsm.Join:
		_, err = c.JoinChat(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.Leave:
		_, err = c.LeaveChat(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.MarkRead:
		_, err = c.MarkRead(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.MarkUnread:
		_, err = c.MarkUnread(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.Close:
		_, err = c.CloseChat(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.Reopen:
		_, err = c.ReopenChat(ctx, acct, id, cmd.Operator, noKey)
	case *fsm.Assign:
		if cmd.Operator == "" {
			_, err = c.UnassignChat(ctx, acct, id, cmd.By, noKey)
		} else {
			_, err = c.AssignChat(ctx, acct, id, cmd.Operator, cmd.By, noKey)
		}
	default:
		err = fmt.Errorf("the loader cannot send %T", cmd)
	}
	return err
}
