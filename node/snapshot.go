package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/hashicorp/raft"
)

// Snapshot takes a snapshot of this node's state now and returns its log
// index. When nothing was applied since the newest snapshot, it returns
// that snapshot's index. Raft also snapshots on its own, at
// Config.SnapshotThreshold and Config.SnapshotInterval.
func (n *Node) Snapshot() (uint64, error) {
	f := n.raft.Snapshot()
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNothingNewToSnapshot) {
			if index, ok := n.lastSnapshot(); ok {
				return index, nil
			}
		}
		return 0, fmt.Errorf("node: snapshot: %w", n.mapRaftError(err))
	}
	// The future's Open would give the index, but opening a snapshot
	// starts reading it (the reader loads chunks ahead): the store's list
	// has it for free. A newer snapshot taken meanwhile only raises it.
	metas, err := n.snapshots.List()
	if err != nil || len(metas) == 0 {
		return 0, fmt.Errorf("node: list snapshots after taking one: %v", err)
	}
	n.logger.Info("snapshot taken", "index", metas[0].Index, "bytes", metas[0].Size)
	return metas[0].Index, nil
}

// Backup writes a consistent snapshot of the whole state to w: a new
// snapshot when anything was applied since the newest one, else the newest
// one. The bytes are the state machine's snapshot format, which Restore
// reads.
func (n *Node) Backup(w io.Writer) error {
	var rc io.ReadCloser
	f := n.raft.Snapshot()
	err := f.Error()
	switch {
	case err == nil:
		_, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		rc, err = n.openNewestSnapshot()
	default:
		err = n.mapRaftError(err)
	}
	if err != nil {
		return fmt.Errorf("node: backup: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("node: backup: %w", err)
	}
	return nil
}

func (n *Node) openNewestSnapshot() (io.ReadCloser, error) {
	metas, err := n.snapshots.List()
	if err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return nil, errors.New("no snapshot to back up")
	}
	_, rc, err := n.snapshots.Open(metas[0].ID)
	return rc, err
}

// Restore replaces the whole cluster's state with a backup written by
// Backup. Only the leader may do it. The backup is first loaded into a
// scratch state machine, so a body that is not a valid backup is refused
// with ErrInvalidBackup and changes nothing (Raft would otherwise stop the
// node on a restore it cannot apply); this needs memory for a second copy
// of the state while it runs. Raft then installs it on every member. The
// members' addresses are recorded again afterwards, since the backup
// carries those of the cluster it came from.
func (n *Node) Restore(r io.Reader) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	spool, err := os.CreateTemp(n.cfg.Dir, "restore-*.tmp")
	if err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	size, err := io.Copy(spool, r)
	if err != nil {
		return fmt.Errorf("node: restore: reading the backup: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	scratch := fsm.New(n.cfg.FSM)
	if err := scratch.Restore(io.NopCloser(spool)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBackup, err)
	}
	backupIndex := scratch.AppliedIndex()
	scratch = nil
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	members := n.fsm.Nodes()
	// Raft places the restored state after both its own last index and
	// meta.Index: giving it the backup's index keeps the applied index
	// moving forward when the backup comes from a longer log.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: backupIndex, Size: size}
	if err := n.raft.Restore(meta, spool, n.cfg.ApplyTimeout); err != nil {
		return fmt.Errorf("node: restore: %w", n.mapRaftError(err))
	}
	n.logger.Info("state restored from backup", "bytes", size)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	return n.rerecordMembers(ctx, members)
}

// rerecordMembers makes the replicated address table match the current
// configuration again, from the addresses known before a restore.
func (n *Node) rerecordMembers(ctx context.Context, before []fsm.NodeAddr) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.mapRaftError(err)
	}
	known := make(map[string]fsm.NodeAddr, len(before))
	for _, a := range before {
		known[a.ID] = a
	}
	inConfig := make(map[string]bool)
	for _, s := range f.Configuration().Servers {
		id := string(s.ID)
		inConfig[id] = true
		addr := known[id]
		if id == n.cfg.ID {
			addr.HTTP = n.cfg.HTTPAddr
		}
		if !n.recordedAs(id, string(s.Address), addr.HTTP) {
			if err := n.proposeSetNode(ctx, id, string(s.Address), addr.HTTP); err != nil {
				return fmt.Errorf("node: restore: recording %s: %w", id, err)
			}
		}
	}
	for _, a := range n.fsm.Nodes() {
		if inConfig[a.ID] {
			continue
		}
		res, _, err := n.Propose(ctx, &fsm.RemoveNode{Header: fsm.Header{Time: fsm.MillisOf(time.Now())}, NodeID: a.ID})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("node: restore: forgetting %s: %w", a.ID, err)
		}
	}
	return nil
}
