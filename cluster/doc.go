// Package cluster turns single nodes into a cluster: a new node asks the
// members it was given (--join) to add it, trying them in turn and
// following a follower's redirect to the leader, until the leader has made
// it a voter.
//
// Membership itself is Raft's: the leader adds and removes voters, and
// every node learns the leader's HTTP address from the replicated state
// (see package node). This package is the joining side of that exchange.
package cluster
