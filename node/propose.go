package node

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
)

// A proposal is one command on its way through group commit.
type proposal struct {
	data []byte
	// state moves from queued to taken (by a batch) or to abandoned (by a
	// caller whose context ended first, which then knows it was never
	// proposed).
	state  atomic.Int32
	done   chan struct{}
	result fsm.Result
	index  uint64
	err    error
}

const (
	proposalQueued int32 = iota
	proposalTaken
	proposalAbandoned
)

// Propose replicates cmd through the Raft log and returns its own Result
// and the log index at which it was applied. Only the leader accepts
// proposals.
//
// Concurrent proposals are grouped: while Config.MaxInflight log entries
// are in flight, new commands wait in a queue, and the next entry carries
// all of them (up to MaxBatchCommands and MaxBatchBytes) as one
// fsm.Batch. A proposal that finds a free slot goes out at once, with no
// added delay.
//
// Errors: a *NotLeaderError (errors.Is ErrNotLeader) when this node is not
// the leader; ErrLeadershipLost when leadership was lost with the entry in
// flight (outcome unknown); ErrShuttingDown once Close has begun;
// ErrTimeout when ctx's deadline (or Config.ApplyTimeout, if ctx has none)
// passes first, in which case the outcome is unknown unless the command
// was still queued. A command the state machine refuses is not an error
// here: it is the Result's Err.
func (n *Node) Propose(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error) {
	if n.raft.State() != raft.Leader {
		if n.shuttingDown() {
			return fsm.Result{}, 0, ErrShuttingDown
		}
		return fsm.Result{}, 0, n.notLeader()
	}
	if ctx.Err() != nil {
		return fsm.Result{}, 0, contextError(ctx, "the command was not proposed")
	}
	// Encoding happens here, in the caller's goroutine, so that the
	// batcher's critical path only concatenates bytes.
	data, err := fsm.EncodeCommand(cmd)
	if err != nil {
		return fsm.Result{}, 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	p := &proposal{data: data, done: make(chan struct{})}

	n.batchMu.Lock()
	if n.refusing {
		n.batchMu.Unlock()
		return fsm.Result{}, 0, ErrShuttingDown
	}
	n.queue = append(n.queue, p)
	if n.cohortWant > 0 && len(n.queue) >= n.cohortWant {
		close(n.cohortCh)
		n.cohortWant = 0
	}
	var batch []*proposal
	if n.inflight < n.cfg.MaxInflight {
		// A free slot means the queue held nothing but p: no one is waiting
		// to be grouped with it, so it goes out now.
		n.inflight++
		batch = n.takeBatchLocked()
	}
	n.batchMu.Unlock()

	if batch != nil {
		// Raft's futures offer no channel to select on, so the entry is
		// proposed and awaited in a goroutine while the caller watches its
		// context.
		go n.runBatches(batch)
	}

	select {
	case <-p.done:
		return p.result, p.index, p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(proposalQueued, proposalAbandoned) {
			return fsm.Result{}, 0, contextError(ctx, "the command was not proposed")
		}
		return fsm.Result{}, 0, contextError(ctx, "the command's outcome is unknown")
	}
}

// contextError maps an ended context to ErrTimeout (deadline) or to its
// cancellation error.
func contextError(ctx context.Context, detail string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s", ErrTimeout, detail)
	}
	return fmt.Errorf("node: %w: %s", ctx.Err(), detail)
}

// runBatches applies batches until the queue is empty.
func (n *Node) runBatches(batch []*proposal) {
	for batch != nil {
		start := time.Now()
		n.applyBatch(batch)
		batch = n.nextBatch(len(batch), time.Since(start))
	}
}

// nextBatch takes the next batch for a slot that just finished a batch of
// released commands, or frees the slot when the queue is empty.
//
// When that batch grouped several commands, their callers are likely to
// propose again within microseconds (a server's handlers, a client's
// pipeline). Taking the next batch at once would catch only the commands
// that queued during the last write, and leave the returning callers to
// the write after: the writers split into two alternating cohorts, each
// write carrying half of them. So, like PostgreSQL's commit_delay, a slot
// that just released several commands waits for as many to queue before it
// takes the next batch, but no longer than Config.CommitDelay nor half the
// time the last entry took to commit (took): when the callers do not come
// back, a write cycle grows by a third at most. A lone writer never waits:
// with one command released, or none, the slot goes on (or is freed) at
// once.
func (n *Node) nextBatch(released int, took time.Duration) []*proposal {
	n.batchMu.Lock()
	defer n.batchMu.Unlock()
	if wait := min(n.cfg.CommitDelay, took/2); released > 1 && wait > 0 && len(n.queue) < released && !n.refusing {
		n.cohortWant = released
		n.cohortCh = make(chan struct{})
		ch := n.cohortCh
		n.batchMu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		n.batchMu.Lock()
		n.cohortWant, n.cohortCh = 0, nil
	}
	if batch := n.takeBatchLocked(); batch != nil {
		return batch
	}
	n.inflight--
	if n.refusing && n.inflight == 0 && n.drained != nil {
		close(n.drained)
		n.drained = nil
	}
	return nil
}

// takeBatchLocked removes the next batch from the queue: the oldest
// proposals up to the bounds, skipping abandoned ones. It returns nil when
// nothing is queued.
func (n *Node) takeBatchLocked() []*proposal {
	var batch []*proposal
	size, taken := 0, 0
	for _, p := range n.queue {
		if len(batch) > 0 && (len(batch) >= n.cfg.MaxBatchCommands || size+len(p.data) > n.cfg.MaxBatchBytes) {
			break
		}
		taken++
		if !p.state.CompareAndSwap(proposalQueued, proposalTaken) {
			continue // its caller gave up before it was proposed
		}
		batch = append(batch, p)
		size += len(p.data)
	}
	rest := copy(n.queue, n.queue[taken:])
	clear(n.queue[rest:])
	n.queue = n.queue[:rest]
	return batch
}

// applyBatch proposes batch as one log entry and answers every proposal
// in it.
func (n *Node) applyBatch(batch []*proposal) {
	var entry []byte
	if len(batch) == 1 {
		entry = batch[0].data
	} else {
		encoded := make([][]byte, len(batch))
		for i, p := range batch {
			encoded[i] = p.data
		}
		entry = fsm.EncodeBatch(encoded)
	}
	start := time.Now()
	f := n.raft.Apply(entry, n.cfg.ApplyTimeout)
	err := f.Error()
	n.metrics.batchCommands.Observe(float64(len(batch)))
	n.metrics.batchBytes.Observe(float64(len(entry)))
	if err == nil {
		n.metrics.applyDuration.Observe(time.Since(start).Seconds())
	}
	var results []fsm.Result
	if err == nil {
		switch resp := f.Response().(type) {
		case []fsm.Result:
			results = resp
			if len(results) != len(batch) {
				err = fmt.Errorf("node: state machine answered %d results for %d commands", len(results), len(batch))
			}
		case error:
			err = fmt.Errorf("node: state machine: %w", resp)
		default:
			err = fmt.Errorf("node: state machine answered %T", resp)
		}
	}
	if err != nil {
		err = n.mapRaftError(err)
		for _, p := range batch {
			p.err = err
			close(p.done)
		}
		return
	}
	index := f.Index()
	for i, p := range batch {
		p.result = results[i]
		p.index = index
		close(p.done)
	}
}

// stopProposals makes Propose refuse new commands and waits until every
// accepted one has been answered, or until deadline.
func (n *Node) stopProposals(deadline time.Time) {
	n.batchMu.Lock()
	n.refusing = true
	var drained chan struct{}
	if n.inflight > 0 {
		n.drained = make(chan struct{})
		drained = n.drained
	}
	n.batchMu.Unlock()
	if drained == nil {
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		n.logger.Warn("proposals still in flight at shutdown; Raft's shutdown will fail them")
	}
}

// mapRaftError turns Raft's errors into the node's sentinels.
func (n *Node) mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShuttingDown
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		if n.shuttingDown() {
			return ErrShuttingDown
		}
		return n.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	}
	return err
}
