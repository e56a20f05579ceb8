package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node/hugeheap"
	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Node is one member of a chatstate cluster: it owns the Raft instance,
// its log, stable and snapshot stores, the TCP transport and the state
// machine. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	logger *slog.Logger

	fsm       *fsm.FSM
	metrics   *metrics
	raft      *raft.Raft
	transport *raft.NetworkTransport
	boltStore *raftboltdb.BoltStore
	logs      raft.LogStore // the log cache in front of boltStore
	snapshots snapshotStore
	raftAddr  string // advertised Raft address

	// Leadership tracking (leadership.go).
	observer   *raft.Observer
	observerCh chan raft.Observation
	changeMu   sync.Mutex
	changeCh   chan struct{} // closed and replaced on every change
	// readyTerm is the term in which this node, as leader, completed its
	// post-election barrier: leader reads are served only in that term.
	readyTerm atomic.Uint64
	// barrierTerm is the last term for which a barrier was started.
	barrierTerm atomic.Uint64

	// Group commit (propose.go).
	batchMu  sync.Mutex
	queue    []*proposal
	inflight int
	refusing bool // set by Close: no new proposals
	// cohortWant and cohortCh: a slot waiting for the callers it released
	// (see nextBatch) is woken when the queue reaches cohortWant.
	cohortWant int
	cohortCh   chan struct{}
	drained    chan struct{} // closed when refusing and nothing is left
	// maintenance bounds background proposals (SetNode) to one at a time.
	maintenance sync.Mutex

	closeOnce sync.Once
	closeErr  error
	stopCh    chan struct{} // closed by Close to stop background goroutines
	bg        sync.WaitGroup
}

// chunkedCompaction deletes log ranges in transactions of at most
// compactionChunk entries. After a snapshot Raft deletes up to
// SnapshotThreshold entries (8,192, each possibly a batch of hundreds of
// commands) in one DeleteRange; in one BoltDB transaction that holds the
// database's only write lock for seconds, and every write waits behind it.
// In short transactions, appends interleave with the compaction. Deleting
// a prefix in ascending pieces keeps the log contiguous whenever it stops.
type chunkedCompaction struct {
	*raftboltdb.BoltStore
}

const compactionChunk = 128

func (c chunkedCompaction) DeleteRange(lo, hi uint64) error {
	// Only the stored range needs walking (callers may pass wide bounds).
	first, err := c.FirstIndex()
	if err != nil {
		return err
	}
	last, err := c.LastIndex()
	if err != nil {
		return err
	}
	lo, hi = max(lo, first), min(hi, last)
	for from := lo; from <= hi; from += compactionChunk {
		to := min(from+compactionChunk-1, hi)
		if err := c.BoltStore.DeleteRange(from, to); err != nil {
			return err
		}
		if to == hi {
			break // to+1 could wrap at the top of the index space
		}
	}
	return nil
}

// startupGCWindow bounds how long after Open the collector stays relaxed
// (Config.RestoreGCPercent) while the node replays the log it found: a
// node that cannot reach a leader may never apply it.
const startupGCWindow = 30 * time.Second

// snapshotStore is what the node needs from its snapshot store.
type snapshotStore interface {
	raft.SnapshotStore
	Close() error
}

// Open starts a node with the state found in cfg.Dir. An empty Dir with
// cfg.Bootstrap starts a new single-node cluster (this node becomes its
// leader); an empty Dir without it waits to be added by a leader; a Dir
// with state resumes as the member it was, whatever cfg.Bootstrap says.
// Open returns once Raft runs; use WaitLeader to wait for a leader.
func Open(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:        cfg,
		metrics:    newMetrics(),
		logger:     logger.With("node", cfg.ID),
		changeCh:   make(chan struct{}),
		stopCh:     make(chan struct{}),
		observerCh: make(chan raft.Observation, 64),
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			n.closeStores()
		}
	}()

	// raft.db rebuilds its freelist on open by walking every page
	// (NoFreelistSync), and snapshots.db does after a crash mid-snapshot:
	// the two files are opened side by side.
	type opened struct {
		store snapshotStore
		err   error
	}
	snapshotsOpened := make(chan opened, 1)
	go func() {
		store, err := openSnapshotStore(cfg, n.logger)
		snapshotsOpened <- opened{store, err}
	}()
	defer func() {
		if snapshotsOpened != nil { // Open returns early: wait, to close it
			n.snapshots = (<-snapshotsOpened).store
		}
	}()
	n.boltStore, err = raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bbolt.Options{
			// Fail rather than wait forever when another process holds it.
			Timeout: 2 * time.Second,
			// The freelist is rebuilt on open instead of being rewritten on
			// every commit, which slows writes after a burst.
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("node: open raft.db: %w", err)
	}
	n.logs, err = raft.NewLogCache(cfg.LogCacheSize, chunkedCompaction{n.boltStore})
	if err != nil {
		return nil, fmt.Errorf("node: log cache: %w", err)
	}
	o := <-snapshotsOpened
	snapshotsOpened = nil
	if n.snapshots, err = o.store, o.err; err != nil {
		return nil, err
	}
	n.transport, err = newTransport(cfg)
	if err != nil {
		return nil, err
	}
	n.raftAddr = string(n.transport.LocalAddr())

	hasState, err := raft.HasExistingState(n.logs, n.boltStore, n.snapshots)
	if err != nil {
		return nil, fmt.Errorf("node: inspect existing state: %w", err)
	}
	rc := cfg.raftConfig()
	if !hasState && cfg.Bootstrap {
		configuration := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(cfg.ID), Address: raft.ServerAddress(n.raftAddr),
		}}}
		if err := raft.BootstrapCluster(rc, n.logs, n.boltStore, n.snapshots, n.transport, configuration); err != nil {
			return nil, fmt.Errorf("node: bootstrap: %w", err)
		}
		n.logger.Info("bootstrapped a new cluster", "raft", n.raftAddr)
	}

	// Raft restores the newest snapshot inside NewRaft, so a heap
	// prepared here is settled right after it.
	heapPrepared := hasState && cfg.HeapHugePages && n.prepareHeap()
	n.fsm = fsm.New(cfg.FSM)
	// With state on disk, the relaxed collector covers the whole start:
	// the snapshot's restore and then the replay of the log after it. Set
	// back right after the restore, the collector would begin marking the
	// whole restored heap at once, and the replay (and so readiness) would
	// pay for it in assists: measured 1.5-2.5 s of a 1,000,000-chat start.
	gc := &gcRelaxer{percent: cfg.RestoreGCPercent}
	relaxStart := hasState && cfg.RestoreGCPercent > 0
	var replayTo uint64 // the last index on disk
	if relaxStart {
		if replayTo, err = n.logs.LastIndex(); err != nil {
			return nil, fmt.Errorf("node: read the last log index: %w", err)
		}
		gc.hold()
		defer func() {
			if !ok {
				gc.release()
			}
		}()
	}
	n.raft, err = raft.NewRaft(rc, timedFSM{FSM: n.fsm, metrics: n.metrics, gc: gc}, n.logs, n.boltStore, n.snapshots, n.transport)
	if heapPrepared {
		n.settleHeap()
	}
	if err != nil {
		return nil, fmt.Errorf("node: start raft: %w", err)
	}
	if relaxStart {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			defer gc.release()
			ctx, cancel := context.WithTimeout(context.Background(), startupGCWindow)
			defer cancel()
			_ = n.WaitForIndex(ctx, replayTo)
		}()
	}
	n.startObserver()
	ok = true
	n.logger.Info("node open", "raft", n.raftAddr, "http", cfg.HTTPAddr, "existing_state", hasState)
	return n, nil
}

// restoredHeapPerSnapshotByte is how much heap a restored state takes per
// byte of its snapshot, with room to spare: 2.3 at 1,000,000 chats.
const restoredHeapPerSnapshotByte = 3

// prepareHeap grows the heap by what the newest snapshot will restore to
// and marks it for huge pages (Config.HeapHugePages), before Raft restores
// it, and reports whether it marked anything. The heap is still nearly
// empty, so the collection this runs is short.
func (n *Node) prepareHeap() bool {
	metas, err := n.snapshots.List()
	if err != nil || len(metas) == 0 {
		return false // Raft meets the same error, or has only a log to replay
	}
	start := time.Now()
	grow := metas[0].Size * restoredHeapPerSnapshotByte
	marked, err := hugeheap.Advise(grow)
	if err != nil {
		n.logger.Warn("cannot mark the heap for huge pages", "error", err)
	}
	if marked == 0 {
		return false // the kernel's mode is not "madvise": nothing to ask for
	}
	n.logger.Info("heap marked for huge pages", "grown_bytes", grow, "marked_bytes", marked, "took", time.Since(start))
	return true
}

// settleHeap takes the huge-page mark off once the restore is done: the
// restored state keeps its huge pages, and what is allocated from now on
// gets small ones (see hugeheap.Settle for why).
func (n *Node) settleHeap() {
	if _, err := hugeheap.Settle(); err != nil {
		n.logger.Warn("cannot take the heap's huge-page mark off", "error", err)
	}
}

func newTransport(cfg Config) (*raft.NetworkTransport, error) {
	var advertise net.Addr
	if cfg.RaftAdvertise != "" {
		addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
		if err != nil {
			return nil, fmt.Errorf("node: RaftAdvertise: %w", err)
		}
		advertise = addr
	}
	// With no advertise address the transport advertises the listener's
	// address, which carries the real port when RaftAddr ends in ":0".
	stream, err := newTCPStreamLayer(cfg.RaftAddr, advertise)
	if err != nil {
		return nil, fmt.Errorf("node: raft transport on %s: %w", cfg.RaftAddr, err)
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger(cfg.Logger, "raft-net"),
	}), nil
}

// openSnapshotStore opens the snapshot store, snapshots.db in cfg.Dir.
func openSnapshotStore(cfg Config, logger *slog.Logger) (snapshotStore, error) {
	scfg := snapstore.DefaultConfig()
	scfg.Logger = logger.With("component", "snapshots")
	store, err := snapstore.Open(filepath.Join(cfg.Dir, "snapshots.db"), scfg)
	if err != nil {
		return nil, fmt.Errorf("node: open snapshot store: %w", err)
	}
	return store, nil
}

// ID returns this node's id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr returns the Raft address this node advertises (with the real
// port when it was configured as ":0").
func (n *Node) RaftAddr() string { return n.raftAddr }

// HTTPAddr returns the HTTP address this node records for itself.
func (n *Node) HTTPAddr() string { return n.cfg.HTTPAddr }

// FSM returns the state machine, for reads. Writes go through Propose.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Close shuts the node down gracefully: it refuses new proposals
// (ErrShuttingDown), waits up to Config.ShutdownTimeout for those in
// flight, hands leadership to another voter when it is the leader, stops
// Raft and closes the stores. It is idempotent; every call returns the
// first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	deadline := time.Now().Add(n.cfg.ShutdownTimeout)
	start := time.Now()
	n.stopProposals(deadline)

	var errs []error
	if n.IsLeader() && n.hasOtherVoters() {
		f := n.raft.LeadershipTransfer()
		if err := waitFuture(f, time.Until(deadline)); err != nil {
			n.logger.Warn("leadership transfer failed", "error", err)
		} else {
			n.logger.Info("leadership transferred")
		}
	}
	close(n.stopCh)
	n.raft.DeregisterObserver(n.observer)
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("node: raft shutdown: %w", err))
	}
	n.bg.Wait()
	n.notifyChange()
	errs = append(errs, n.closeStores())
	n.logger.Info("node closed", "took", time.Since(start))
	return errors.Join(errs...)
}

// closeStores closes whatever Open managed to open.
func (n *Node) closeStores() error {
	var errs []error
	if n.transport != nil {
		if err := n.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close transport: %w", err))
		}
	}
	if n.snapshots != nil {
		if err := n.snapshots.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close snapshot store: %w", err))
		}
	}
	if n.boltStore != nil {
		if err := n.boltStore.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close raft.db: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) hasOtherVoters() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.ID {
			return true
		}
	}
	return false
}

// waitFuture waits for f up to timeout (<= 0: no wait left).
func waitFuture(f raft.Future, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	t := time.NewTimer(max(timeout, 0))
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return ErrTimeout
	}
}

// shuttingDown reports whether Close has begun.
func (n *Node) shuttingDown() bool {
	select {
	case <-n.stopCh:
		return true
	default:
	}
	n.batchMu.Lock()
	defer n.batchMu.Unlock()
	return n.refusing
}

var _ io.Closer = (*Node)(nil)
