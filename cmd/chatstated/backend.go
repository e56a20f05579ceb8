package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chatstate/chatstate/httpapi"
	"github.com/chatstate/chatstate/node"
)

// version is reported by GET /v1/status; release builds set it with
// -ldflags "-X main.version=...".
var version = "dev"

// backend adapts *node.Node to the interface the HTTP API consumes. It is
// the only place that knows both packages.
type backend struct {
	*node.Node
}

var _ httpapi.Backend = backend{}

func (b backend) Status() httpapi.NodeStatus {
	st := b.Node.Status()
	out := httpapi.NodeStatus{
		ID:           st.ID,
		State:        st.State,
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		Nodes:        make([]httpapi.NodeInfo, 0, len(st.Nodes)),
		Version:      version,
	}
	if st.Leader != nil {
		out.Leader = &httpapi.NodeInfo{ID: st.Leader.ID, HTTP: st.Leader.HTTP, Raft: st.Leader.Raft}
	}
	if st.LastSnapshot != nil {
		out.LastSnapshot = &httpapi.SnapshotInfo{Index: st.LastSnapshot.Index, Term: st.LastSnapshot.Term}
	}
	for _, n := range st.Nodes {
		out.Nodes = append(out.Nodes, httpapi.NodeInfo{ID: n.ID, HTTP: n.HTTP, Raft: n.Raft, Suffrage: n.Suffrage})
	}
	return out
}

// readyWait bounds how long a readiness probe waits for the node to apply
// what was committed when it asked.
const readyWait = time.Second

func (b backend) Ready(ctx context.Context) []string {
	st := b.Node.Status()
	var reasons []string
	if st.State == "shutdown" {
		return []string{"the node is shutting down"}
	}
	if st.Leader == nil {
		reasons = append(reasons, "no leader is known")
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := b.Node.WaitForIndex(ctx, st.CommitIndex); err != nil {
		reasons = append(reasons, fmt.Sprintf("applied index %d is behind commit index %d", b.Node.AppliedIndex(), st.CommitIndex))
	}
	return reasons
}

func (b backend) Snapshot(context.Context) (uint64, error) { return b.Node.Snapshot() }

// Backup takes a snapshot before the response starts, so that a failure
// is answered as an error rather than as a cut-short download; streaming
// then reads that snapshot (or a newer one, if writes came in between).
func (b backend) Backup(context.Context) (httpapi.BackupStream, error) {
	if _, err := b.Node.Snapshot(); err != nil {
		return nil, err
	}
	return backupStream{b.Node}, nil
}

func (b backend) Restore(_ context.Context, r io.Reader) (uint64, error) {
	if err := b.Node.Restore(r); err != nil {
		if errors.Is(err, node.ErrInvalidBackup) {
			return 0, fmt.Errorf("%w: %w", httpapi.ErrInvalidBackup, err)
		}
		return 0, err
	}
	return b.Node.AppliedIndex(), nil
}

func (b backend) Join(ctx context.Context, n httpapi.NodeInfo) error {
	return b.Node.AddVoter(ctx, n.ID, n.Raft, n.HTTP)
}

func (b backend) RemoveNode(ctx context.Context, id string) error {
	return b.Node.RemoveServer(ctx, id)
}

// backupStream writes a backup when the HTTP API streams the response.
type backupStream struct{ n *node.Node }

func (s backupStream) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	err := s.n.Backup(cw)
	return cw.n, err
}

func (backupStream) Close() error { return nil }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
