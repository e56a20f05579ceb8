package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// BareRaft is the baseline the write figures are compared with: an
// in-process hashicorp/raft cluster of 1 or 3 nodes over TCP on loopback,
// with the stores chatstated uses (raft-boltdb/v2 with NoFreelistSync
// and the map freelist, behind a 512-entry LogCache) and Raft's default
// timing, applying a no-op command one log entry per call, with an FSM
// that does nothing. What chatstated adds to it is HTTP, encoding, the
// state machine and group commit; what it saves is the log entries that
// group commit merges.
type BareRaft struct {
	nodes  []*bareNode
	leader *raft.Raft
	cmd    []byte
}

type bareNode struct {
	raft      *raft.Raft
	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
}

// bareLogCacheSize matches chatstated's node.DefaultConfig().LogCacheSize.
const bareLogCacheSize = 512

// OpenBareRaft starts n (1 or 3) Raft nodes with their data under dir and
// returns once one of them leads.
func OpenBareRaft(ctx context.Context, dir string, n int) (br *BareRaft, err error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: bare raft with %d nodes", ErrInvalidConfig, n)
	}
	cmd, err := fsm.EncodeCommand(&fsm.Noop{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	br = &BareRaft{cmd: cmd}
	defer func() {
		if err != nil {
			br.Close()
		}
	}()
	var servers []raft.Server
	for i := range n {
		tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
		if err != nil {
			return br, fmt.Errorf("%w: bare raft transport: %v", ErrSetup, err)
		}
		bn := &bareNode{transport: tr}
		br.nodes = append(br.nodes, bn)
		bn.store, err = raftboltdb.New(raftboltdb.Options{
			Path: filepath.Join(dir, "bare"+strconv.Itoa(i+1)+".db"),
			BoltOptions: &bbolt.Options{
				Timeout:        2 * time.Second,
				NoFreelistSync: true,
				FreelistType:   bbolt.FreelistMapType,
			},
		})
		if err != nil {
			return br, fmt.Errorf("%w: bare raft store: %v", ErrSetup, err)
		}
		servers = append(servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID("bare" + strconv.Itoa(i+1)),
			Address:  tr.LocalAddr(),
		})
	}
	for i, bn := range br.nodes {
		rc := raft.DefaultConfig()
		rc.LocalID = servers[i].ID
		rc.Logger = hclog.NewNullLogger()
		logs, err := raft.NewLogCache(bareLogCacheSize, bn.store)
		if err != nil {
			return br, fmt.Errorf("%w: %v", ErrSetup, err)
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "bare"+strconv.Itoa(i+1)+"-snapshots"), 2, hclog.NewNullLogger())
		if err != nil {
			return br, fmt.Errorf("%w: %v", ErrSetup, err)
		}
		if err := raft.BootstrapCluster(rc, logs, bn.store, snaps, bn.transport, raft.Configuration{Servers: servers}); err != nil {
			return br, fmt.Errorf("%w: bootstrap bare raft: %v", ErrSetup, err)
		}
		bn.raft, err = raft.NewRaft(rc, nopFSM{}, logs, bn.store, snaps, bn.transport)
		if err != nil {
			return br, fmt.Errorf("%w: start bare raft: %v", ErrSetup, err)
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, bn := range br.nodes {
			if bn.raft.State() == raft.Leader {
				br.leader = bn.raft
				// Wait for the leader's first entries to commit, so that
				// the first measured Apply is not the one that does it.
				if err := br.leader.Barrier(10 * time.Second).Error(); err != nil {
					return br, fmt.Errorf("%w: bare raft barrier: %v", ErrSetup, err)
				}
				return br, nil
			}
		}
		select {
		case <-ctx.Done():
			return br, fmt.Errorf("%w: bare raft elected no leader: %v", ErrSetup, ctx.Err())
		case <-tick.C:
		}
	}
}

// Apply appends one no-op log entry through the leader and waits until it
// is committed and applied.
func (br *BareRaft) Apply() error {
	return br.leader.Apply(br.cmd, 10*time.Second).Error()
}

// Op returns Apply as an Op for the runners.
func (br *BareRaft) Op() NewOp {
	return func(int, *rand.Rand) Op {
		return func(context.Context) (OpKind, error) { return KindWrite, br.Apply() }
	}
}

// Close shuts every node down and closes the stores.
func (br *BareRaft) Close() error {
	for _, bn := range br.nodes {
		if bn.raft != nil {
			_ = bn.raft.Shutdown().Error()
		}
		if bn.transport != nil {
			_ = bn.transport.Close()
		}
		if bn.store != nil {
			_ = bn.store.Close()
		}
	}
	br.nodes = nil
	return nil
}

// nopFSM applies nothing. It takes batches as chatstated's state machine
// does, so that Raft hands both the same batches.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any { return nil }

func (nopFSM) ApplyBatch(logs []*raft.Log) []any { return make([]any, len(logs)) }

func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }

func (nopFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	_, err := io.Copy(io.Discard, rc)
	return err
}

type nopSnapshot struct{}

func (nopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                             {}
