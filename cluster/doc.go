// Package cluster turns single nodes into a cluster: a new node asks the
// members it was given (--join) to add it, trying them in turn and
// following a follower's redirect to the leader, until the leader has made
// it a voter.
//
// Membership itself is Raft's: the leader adds and removes voters, and
// every node learns the leader's HTTP address from the replicated state
// (see package node). This package is the joining side of that exchange.
//
// The package's tests run real three-node clusters of chatstated processes
// (through cluster/clustertest): membership and redirects end to end, the
// leader killed under load, a partitioned leader, full restarts, with every
// acknowledged write checked on every node and the recorded histories
// checked for linearizability. BenchmarkFailover measures the time to
// recover from a leader kill. DESIGN.md says why things are as they are;
// docs/OPERATIONS.md is the operator's guide.
package cluster
