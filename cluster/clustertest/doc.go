// Package clustertest runs real chatstated clusters for tests: it builds
// the binary once per test process, starts N nodes as separate processes
// on loopback ports with their data in t.TempDir(), puts fault-injecting
// TCP proxies in front of their Raft listeners, and kills, stops and
// restarts nodes. Every node's output goes to t.Log, each line prefixed
// with the node's id.
//
// Use it from a package's TestMain, which builds the binary:
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		c := clustertest.Start(t, clustertest.Config{Nodes: 3, Proxies: true})
//		leader := c.WaitLeader()
//		// ... talk HTTP to leader.HTTP, c.Node("n2").HTTP ...
//		leader.Kill()                     // SIGKILL
//		next := c.WaitLeader()            // the others elect a new one
//		c.Partition([]string{next.ID}, c.Others(next.ID)) // cut the Raft links
//		c.Heal()
//		leader.Start()                    // restarts on its data, catches up
//		c.WaitConverged()                 // every running node applied the commit index
//	}
//
// Node i listens for Raft on 127.0.0.i (Linux routes all of 127/8 to the
// loopback interface with no setup) and calls its peers from that IP, so
// the proxy in front of each node knows which peer is calling and can cut
// one direction of one link, refusing its connections or swallowing them
// (Fault). HTTP listens on 127.0.0.1.
//
// Clients are given c.HTTPAddrs(), every node's HTTP address; followers
// redirect them to the leader. Config.Raft sets Raft's timings (FastRaft()
// by default: elections within about a second), Config.Args any other
// chatstated flag, Config.Quiet keeps node output out of the log
// (benchmarks).
//
// Every wait has a deadline (Config.Timeout) and fails the test when it
// passes. A Cluster belongs to the test that started it: call the methods
// that can fail the test (Start, Kill, Stop, Wait*, Cut, ...) from that
// test's goroutine; Node.Status, Running, Output, ExitErr and the Proxy
// methods are safe from any goroutine. Processes are killed when the test
// ends, and, on Linux, when the test process dies.
package clustertest
