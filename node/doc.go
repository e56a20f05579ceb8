// Package node runs one member of a chatstate cluster: it owns the Raft
// instance (hashicorp/raft), its log and stable store (raft-boltdb in
// raft.db), the snapshot store (snapshots.db), the TCP transport and the
// state machine (package fsm). The HTTP server and the cluster code use a
// Node; a Go program can embed one and use chatstate without HTTP.
//
// # Embedding chatstate in a Go program
//
// Open a node on a data directory, wait until it leads, then propose
// commands and read the state machine:
//
//	cfg := node.DefaultConfig()
//	cfg.ID = "n1"
//	cfg.Dir = "./data/n1"
//	cfg.RaftAddr = "127.0.0.1:8089"
//	cfg.Bootstrap = true // an empty Dir starts a new single-node cluster
//	n, err := node.Open(cfg)
//	if err != nil { ... }
//	defer n.Close() // graceful: finishes in-flight writes, hands over leadership
//
//	if _, err := n.WaitLeader(ctx); err != nil { ... }
//	res, index, err := n.Propose(ctx, &fsm.UpsertAccount{
//		Header: fsm.Header{Account: "acme", Time: fsm.MillisOf(time.Now())},
//		Name:   "Acme",
//	})
//	// err: node.ErrNotLeader, ErrLeadershipLost, ErrShuttingDown, ErrTimeout
//	// res.Err: a business rule refused the command (fsm.ErrNotFound, ...)
//	chat, err := n.FSM().Chat("acme", 1)
//
// Every write is a command of package fsm, stamped by the caller with the
// time (the state machine never reads a clock). Propose returns the
// command's own result and the Raft log index it was applied at; a read
// that must see it on another node waits for that index with WaitForIndex.
// Reads at consistency "leader" call LeaderRead first, "linearizable" ones
// LinearizableRead; "stale" reads read the state machine directly.
//
// A data directory that holds state resumes where it stopped, whatever
// Bootstrap says. To grow the cluster, open the new node without Bootstrap
// and call AddVoter(ctx, id, raftAddr, httpAddr) on the leader;
// RemoveServer takes a member out. Snapshot, Backup and Restore take a
// snapshot now, stream a consistent copy of the whole state, and replace
// the whole cluster's state with such a copy.
//
// # Writes: group commit
//
// Propose encodes the command in the caller's goroutine and queues it. When
// fewer than Config.MaxInflight log entries are in flight, the queue goes
// out at once as one log entry; while entries are in flight, later commands
// wait and the next entry carries all of them (up to MaxBatchCommands and
// MaxBatchBytes). A lone command is never held back. Raft and BoltDB cost
// roughly the same per entry whatever its size, so fewer, larger entries
// is what makes throughput scale with concurrent writers. See DESIGN.md.
//
// # Leadership and reads
//
// The node follows leadership with a non-blocking Raft observer. A new
// leader serves leader and linearizable reads only once a Barrier issued in
// its term has applied everything committed before; it then records its
// own addresses in the replicated state (fsm.SetNode), so every node can
// name the leader's HTTP address (Leader, NotLeaderError.LeaderHTTP).
package node
