package clustertest

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// FastRaft returns Raft timing flags for tests: a dead leader is replaced
// within about a second instead of Raft's default 1-3 s, while a loaded
// 2-core machine still keeps a healthy leader (a 150 ms lease made leaders
// step down for nothing under load; the lease only delays an isolated
// leader's step-down).
func FastRaft() []string {
	return []string{
		"--raft-heartbeat-timeout=300ms",
		"--raft-election-timeout=300ms",
		"--raft-leader-lease-timeout=250ms",
		"--raft-commit-timeout=10ms",
	}
}

// Config describes a test cluster. The zero value is a valid three-node
// cluster without proxies, with FastRaft() timings.
type Config struct {
	// Nodes is the number of nodes (default 3, at most 250).
	Nodes int
	// Binary is the chatstated binary (default: $CHATSTATE_TEST_BINARY,
	// which Main sets).
	Binary string
	// Raft are the Raft tuning flags (default FastRaft(); an empty non-nil
	// slice keeps chatstated's defaults).
	Raft []string
	// Args are more flags for every node, after the harness's own (a flag
	// given twice takes its last value, so Args can override).
	Args []string
	// Proxies puts a fault-injecting Proxy in front of every node's Raft
	// listener, for Cut, Partition and Heal.
	Proxies bool
	// Timeout bounds every wait (default 30s).
	Timeout time.Duration
	// LogLevel is the nodes' --log-level (default "info").
	LogLevel string
	// Quiet keeps the nodes' output out of t.Log (WaitOutput still sees
	// it); benchmarks use it.
	Quiet bool
	// NoStart creates the nodes without starting any; the test starts them
	// (Node.Start, Cluster.Bootstrap) itself.
	NoStart bool
}

// Cluster is a set of chatstated processes started by Start.
type Cluster struct {
	// Nodes are n1..nN, in order.
	Nodes []*Node

	tb     testing.TB
	cfg    Config
	binary string
	client *fasthttp.Client

	logMu   sync.Mutex
	logDone bool
}

// Start creates a cluster of cfg.Nodes nodes and, unless cfg.NoStart,
// starts it: n1 bootstraps, the others join it with --join listing every
// node before them, and Start returns once every node sees the same leader
// and all of them as voters. Everything is killed when the test ends.
func Start(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	c := New(tb, cfg)
	if !cfg.NoStart {
		c.Bootstrap()
	}
	return c
}

// New creates the cluster's nodes (addresses, data directories, proxies)
// without starting them.
func New(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Nodes < 1 || cfg.Nodes > 250 {
		tb.Fatalf("clustertest: %d nodes: want 1..250", cfg.Nodes)
	}
	if cfg.Binary == "" {
		cfg.Binary = os.Getenv(BinaryEnv)
	}
	if cfg.Binary == "" {
		tb.Fatalf("clustertest: no chatstated binary: call clustertest.Main from TestMain, or set %s", BinaryEnv)
	}
	if cfg.Raft == nil {
		cfg.Raft = FastRaft()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	c := &Cluster{
		tb: tb, cfg: cfg, binary: cfg.Binary,
		client: &fasthttp.Client{Name: "clustertest", MaxIdleConnDuration: time.Second},
	}
	tb.Cleanup(c.cleanup)
	ports := &portReservation{tb: tb}
	defer ports.release()
	for i := 1; i <= cfg.Nodes; i++ {
		c.Nodes = append(c.Nodes, c.newNode(i, ports))
	}
	return c
}

func (c *Cluster) newNode(i int, ports *portReservation) *Node {
	c.tb.Helper()
	n := &Node{
		ID:      "n" + strconv.Itoa(i),
		IP:      "127.0.0." + strconv.Itoa(i),
		Dir:     c.tb.TempDir(),
		c:       c,
		outWake: make(chan struct{}),
	}
	n.HTTP = ports.take("127.0.0.1")
	n.RaftListen = ports.take(n.IP)
	n.Raft = n.RaftListen
	if c.cfg.Proxies {
		p, err := NewProxy(n.IP+":0", n.RaftListen)
		if err != nil {
			c.tb.Fatalf("clustertest: proxy for %s: %v", n.ID, err)
		}
		n.proxy = p
		n.Raft = p.Addr()
	}
	return n
}

// args are the node's command line for its next start. A node's first
// start joins the nodes before it (n1 bootstraps); later starts list every
// other node, which a node with data ignores unless its own address
// changed.
func (n *Node) argsForStart() []string {
	c := n.c
	args := []string{
		"--id", n.ID, "--data", n.Dir,
		"--http", n.HTTP, "--raft", n.RaftListen, "--advertise-raft", n.Raft,
		"--log-level", c.cfg.LogLevel,
		"--shutdown-timeout", "20s",
	}
	join := n.join
	if join == nil {
		for _, o := range c.Nodes {
			if o == n {
				if n.starts == 0 {
					break // first start: only the nodes before it
				}
				continue
			}
			join = append(join, o.HTTP)
		}
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	args = append(args, c.cfg.Raft...)
	return append(args, c.cfg.Args...)
}

// portReservation hands out free ports. A node keeps its ports across
// restarts, so it cannot be given port 0: each port is found by listening
// on port 0, and the listeners stay open until release, so that no two
// addresses handed out together (or a proxy's, bound meanwhile) get the
// same port.
type portReservation struct {
	tb  testing.TB
	lns []net.Listener
}

// take returns host:port with a port free until release.
func (r *portReservation) take(host string) string {
	r.tb.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		r.tb.Fatalf("clustertest: no free port on %s: %v", host, err)
	}
	r.lns = append(r.lns, ln)
	return ln.Addr().String()
}

// release frees the ports for the nodes to bind.
func (r *portReservation) release() {
	for _, ln := range r.lns {
		ln.Close()
	}
}

// Bootstrap starts every node (n1 first, alone, until it leads) and waits
// until all of them are voters that see the same leader.
func (c *Cluster) Bootstrap() {
	c.tb.Helper()
	first := c.Nodes[0]
	first.Start()
	first.WaitStatus("leader of a new cluster", func(st Status) bool {
		return st.State == "leader" && st.Leader != nil && st.Leader.HTTP != ""
	})
	for _, n := range c.Nodes[1:] {
		n.Start()
	}
	c.WaitVoters(c.IDs()...)
}

// Node returns the node with id; it fails the test if there is none.
func (c *Cluster) Node(id string) *Node {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	c.tb.Fatalf("clustertest: no node %q", id)
	return nil
}

// IDs returns the ids of every node, in order.
func (c *Cluster) IDs() []string {
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// Others returns the ids of every node but the given ones.
func (c *Cluster) Others(ids ...string) []string {
	var out []string
	for _, n := range c.Nodes {
		if !slices.Contains(ids, n.ID) {
			out = append(out, n.ID)
		}
	}
	return out
}

// Running returns the nodes whose process runs.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// HTTPAddrs returns every node's HTTP address, in order: what a client is
// given as the cluster's members.
func (c *Cluster) HTTPAddrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.HTTP
	}
	return addrs
}

// Timeout is the bound of every wait.
func (c *Cluster) Timeout() time.Duration { return c.cfg.Timeout }

// WaitLeader waits until every running node answers its status and names
// the same leader, which is itself running, reports itself leader and has
// its HTTP address known, and returns that leader.
func (c *Cluster) WaitLeader() *Node {
	c.tb.Helper()
	return c.WaitLeaderAmong(nodeIDs(c.Running())...)
}

// WaitLeaderAmong is WaitLeader over the nodes with the given ids only
// (for example the majority side of a partition).
func (c *Cluster) WaitLeaderAmong(ids ...string) *Node {
	c.tb.Helper()
	var leader *Node
	c.waitFor(fmt.Sprintf("one leader seen by %v", ids), func() (bool, string) {
		var agreed string
		var detail []string
		for _, id := range ids {
			st, err := c.Node(id).Status()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", id, err)
			}
			detail = append(detail, fmt.Sprintf("%s:%s/leader=%s/term=%d", id, st.State, st.LeaderID(), st.Term))
			if st.Leader == nil || st.Leader.HTTP == "" || (agreed != "" && st.Leader.ID != agreed) {
				return false, strings.Join(detail, " ")
			}
			agreed = st.Leader.ID
		}
		if !slices.Contains(ids, agreed) {
			return false, strings.Join(detail, " ") + " (the leader is not among them)"
		}
		st, err := c.Node(agreed).Status()
		if err != nil || st.State != "leader" {
			return false, fmt.Sprintf("%s; %s does not lead (%v)", strings.Join(detail, " "), agreed, err)
		}
		leader = c.Node(agreed)
		return true, ""
	})
	return leader
}

// WaitVoters waits until every running node lists exactly ids as the
// voters, knows every member's HTTP address, and sees the same leader.
func (c *Cluster) WaitVoters(ids ...string) {
	c.tb.Helper()
	want := slices.Clone(ids)
	slices.Sort(want)
	c.waitFor(fmt.Sprintf("voters %v on every running node", want), func() (bool, string) {
		leader := ""
		for _, n := range c.Running() {
			st, err := n.Status()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", n.ID, err)
			}
			got := st.Voters()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false, fmt.Sprintf("%s sees voters %v", n.ID, got)
			}
			for _, m := range st.Nodes {
				if m.HTTP == "" {
					return false, fmt.Sprintf("%s does not know %s's HTTP address", n.ID, m.ID)
				}
			}
			if st.Leader == nil || (leader != "" && st.Leader.ID != leader) {
				return false, fmt.Sprintf("%s sees leader %q", n.ID, st.LeaderID())
			}
			leader = st.Leader.ID
		}
		return true, ""
	})
}

// WaitApplied waits until every running node has applied index.
func (c *Cluster) WaitApplied(index uint64) {
	c.tb.Helper()
	for _, n := range c.Running() {
		n.WaitApplied(index)
	}
}

// WaitConverged waits for a leader and until every running node has
// applied the leader's commit index, and returns that index.
func (c *Cluster) WaitConverged() uint64 {
	c.tb.Helper()
	leader := c.WaitLeader()
	st, err := leader.Status()
	if err != nil {
		c.tb.Fatalf("clustertest: status of %s: %v", leader.ID, err)
	}
	c.WaitApplied(st.CommitIndex)
	return st.CommitIndex
}

// Cut stops Raft traffic from node from to node to (one direction: from's
// calls to to fail; to's calls to from still work), refusing from's
// connections. It needs proxies.
func (c *Cluster) Cut(from, to string) {
	c.tb.Helper()
	c.CutWith(Refuse, from, to)
}

// CutWith is Cut with the given kind of fault.
func (c *Cluster) CutWith(f Fault, from, to string) {
	c.tb.Helper()
	c.proxyOf(to).SetFault(c.Node(from).IP, f)
	c.logLine("harness", fmt.Sprintf("cut %s -> %s (%s)", from, to, f))
}

// Mend restores the Raft link from node from to node to.
func (c *Cluster) Mend(from, to string) {
	c.tb.Helper()
	c.proxyOf(to).Unblock(c.Node(from).IP)
	c.logLine("harness", fmt.Sprintf("mended %s -> %s", from, to))
}

// Isolate cuts every Raft link to and from node id.
func (c *Cluster) Isolate(id string) {
	c.tb.Helper()
	c.IsolateWith(Refuse, id)
}

// IsolateWith is Isolate with the given kind of fault.
func (c *Cluster) IsolateWith(f Fault, id string) {
	c.tb.Helper()
	c.PartitionWith(f, []string{id}, c.Others(id))
}

// Partition cuts, in both directions, every Raft link between nodes of
// different groups. Links within a group are left as they are.
func (c *Cluster) Partition(groups ...[]string) {
	c.tb.Helper()
	c.PartitionWith(Refuse, groups...)
}

// PartitionWith is Partition with the given kind of fault.
func (c *Cluster) PartitionWith(f Fault, groups ...[]string) {
	c.tb.Helper()
	for gi, g := range groups {
		for hi, h := range groups {
			if gi == hi {
				continue
			}
			for _, from := range g {
				for _, to := range h {
					c.CutWith(f, from, to)
				}
			}
		}
	}
}

// Heal restores every Raft link.
func (c *Cluster) Heal() {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if n.proxy == nil {
			c.tb.Fatalf("clustertest: Heal needs Config.Proxies")
		}
		n.proxy.UnblockAll()
	}
	c.logLine("harness", "healed every link")
}

func (c *Cluster) proxyOf(id string) *Proxy {
	c.tb.Helper()
	n := c.Node(id)
	if n.proxy == nil {
		c.tb.Fatalf("clustertest: cutting links needs Config.Proxies")
	}
	return n.proxy
}

// waitFor polls cond until it holds or the cluster's timeout passes, then
// fails the test with desc and cond's last detail.
func (c *Cluster) waitFor(desc string, cond func() (ok bool, detail string)) {
	c.tb.Helper()
	deadline := time.Now().Add(c.cfg.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("clustertest: waited %s for %s; last: %s", c.cfg.Timeout, desc, detail)
		}
		<-tick.C
	}
}

// logLine sends one line to t.Log, prefixed with who said it, until the
// test ends.
func (c *Cluster) logLine(who, line string) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if c.logDone || c.cfg.Quiet && who != "harness" && !strings.HasPrefix(line, "harness:") {
		return
	}
	c.tb.Logf("[%s] %s", who, line)
}

// cleanup kills every node, closes the proxies, and stops logging.
func (c *Cluster) cleanup() {
	for _, n := range c.Nodes {
		_ = n.signalAndWait(syscall.SIGKILL, 10*time.Second) // SIGKILL; Wait also drains the output
	}
	for _, n := range c.Nodes {
		if n.proxy != nil {
			_ = n.proxy.Close()
		}
	}
	c.logMu.Lock()
	c.logDone = true
	c.logMu.Unlock()
}

func nodeIDs(nodes []*Node) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}
