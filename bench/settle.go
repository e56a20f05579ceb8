package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/chatstate/chatstate/client"
)

// Settle prepares a loaded cluster for measurement: the leader takes a
// snapshot (so the load's log is compacted now, not during a measured
// phase), and every node catches up with the leader's commit index (so
// no follower is still applying the load while the workloads run). It
// returns the snapshot's index.
func Settle(ctx context.Context, c *client.Client, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	index, err := c.Snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: snapshot after the load: %v", ErrSetup, err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return index, fmt.Errorf("%w: status: %v", ErrSetup, err)
	}
	target := st.CommitIndex
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, n := range st.Nodes {
		for {
			ns, err := c.Status(ctx, client.OnNode(n.HTTP))
			if err == nil && ns.AppliedIndex >= target {
				break
			}
			select {
			case <-ctx.Done():
				return index, fmt.Errorf("%w: node %s did not apply index %d in %v", ErrSetup, n.ID, target, timeout)
			case <-tick.C:
			}
		}
	}
	return index, nil
}
