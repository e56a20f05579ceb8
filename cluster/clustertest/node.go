package clustertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one chatstated process of a Cluster. Its addresses and data
// directory stay the same across restarts.
type Node struct {
	// ID is the node's id (n1, n2, ...).
	ID string
	// HTTP is the address of the node's HTTP API (host:port).
	HTTP string
	// Raft is the Raft address the node advertises: its proxy's when the
	// cluster has proxies, else RaftListen.
	Raft string
	// RaftListen is where the node's Raft transport listens.
	RaftListen string
	// IP is the loopback IP the node's Raft traffic comes from.
	IP string
	// Dir is the node's data directory.
	Dir string

	c     *Cluster
	proxy *Proxy   // nil without proxies
	join  []string // --join for the next starts; nil: the default

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	exitErr error
	starts  int
	output  []string // the latest lines, for WaitOutput
	outWake chan struct{}
}

// maxOutputLines bounds the lines a node keeps for WaitOutput.
const maxOutputLines = 20000

// Start starts the node's process, on its existing data if it has any (a
// restart: the node rejoins as the member it was and ignores --join). It
// fails the test if the node is already running or does not start.
func (n *Node) Start() {
	n.c.tb.Helper()
	if err := n.start(); err != nil {
		n.c.tb.Fatalf("start %s: %v", n.ID, err)
	}
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.exited:
		default:
			return errors.New("already running")
		}
	}
	args := n.argsForStart()
	cmd := exec.Command(n.c.binary, args...)
	cmd.Stdout = &lineWriter{n: n}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = procAttr()
	// A killed node's output pipe closes with it; this only bounds the
	// wait should a grandchild ever hold it open.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	n.starts++
	n.cmd = cmd
	exited := make(chan struct{})
	n.exited = exited
	n.exitErr = nil
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	n.logf("started (pid %d, start #%d): %s %s", cmd.Process.Pid, n.starts, n.c.binary, strings.Join(args, " "))
	return nil
}

// SetJoin sets the --join list of the node's next starts; nil restores
// the default (the nodes before it on the first start, every other node
// after), an empty list passes no --join.
func (n *Node) SetJoin(members []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.join = members
	if members != nil && len(members) == 0 {
		n.join = []string{}
	}
}

// ChangeAddresses gives the stopped node new HTTP and Raft ports (and a
// new proxy when the cluster has proxies), as when a machine comes back
// with another address. Its data stays.
func (n *Node) ChangeAddresses() {
	n.c.tb.Helper()
	if n.Running() {
		n.c.tb.Fatalf("clustertest: ChangeAddresses on running node %s", n.ID)
	}
	ports := &portReservation{tb: n.c.tb}
	defer ports.release()
	n.HTTP = ports.take("127.0.0.1")
	n.RaftListen = ports.take(n.IP)
	n.Raft = n.RaftListen
	if n.proxy != nil {
		_ = n.proxy.Close()
		p, err := NewProxy(n.IP+":0", n.RaftListen)
		if err != nil {
			n.c.tb.Fatalf("clustertest: proxy for %s: %v", n.ID, err)
		}
		n.proxy = p
		n.Raft = p.Addr()
	}
	n.logf("new addresses: http %s, raft %s", n.HTTP, n.Raft)
}

// Wipe deletes the stopped node's data, as when a machine is replaced; its
// next start is a new node (with the same id) that joins the cluster.
func (n *Node) Wipe() {
	n.c.tb.Helper()
	if n.Running() {
		n.c.tb.Fatalf("clustertest: Wipe on running node %s", n.ID)
	}
	entries, err := os.ReadDir(n.Dir)
	if err != nil {
		n.c.tb.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(n.Dir, e.Name())); err != nil {
			n.c.tb.Fatal(err)
		}
	}
	n.logf("data wiped")
}

// Output returns the lines the node has printed since its first start
// (the newest ones, when there were very many).
func (n *Node) Output() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.output)
}

// PID is the process id of the node's latest process, 0 if it was never
// started.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the node's process is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash: nothing is flushed or handed over) and
// waits for the process to exit. Killing a stopped node does nothing.
func (n *Node) Kill() {
	n.c.tb.Helper()
	if err := n.signalAndWait(syscall.SIGKILL, n.c.cfg.Timeout); err != nil {
		n.c.tb.Fatalf("kill %s: %v", n.ID, err)
	}
}

// Stop sends SIGTERM and waits for a graceful exit (up to 35s: chatstated
// promises one within 30s). It fails the test when the node exits with an
// error or does not exit in time (it is then killed). Stopping a stopped
// node does nothing.
func (n *Node) Stop() {
	n.c.tb.Helper()
	if err := n.signalAndWait(syscall.SIGTERM, 35*time.Second); err != nil {
		n.c.tb.Fatalf("stop %s: %v", n.ID, err)
	}
	if err := n.ExitErr(); err != nil {
		n.c.tb.Fatalf("stop %s: exited with %v", n.ID, err)
	}
}

// ExitErr is the last process's exit error (nil for exit status 0, or
// while it runs).
func (n *Node) ExitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exitErr
}

// Exited returns a channel closed when the current process exits; nil if
// the node was never started.
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

func (n *Node) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	n.logf("sent %v", sig)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("did not exit within %s after %v; killed", timeout, sig)
	}
}

// Status asks the node for its status.
func (n *Node) Status() (Status, error) {
	return fetchStatus(n.c.client, n.HTTP)
}

// WaitStatus waits until the node's status satisfies cond and returns it.
// desc says what is awaited, for the failure message.
func (n *Node) WaitStatus(desc string, cond func(Status) bool) Status {
	n.c.tb.Helper()
	var got Status
	n.c.waitFor(fmt.Sprintf("%s: %s", n.ID, desc), func() (bool, string) {
		st, err := n.Status()
		if err != nil {
			return false, err.Error()
		}
		got = st
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return got
}

// WaitApplied waits until the node has applied index.
func (n *Node) WaitApplied(index uint64) Status {
	n.c.tb.Helper()
	return n.WaitStatus(fmt.Sprintf("applied index %d", index), func(st Status) bool {
		return st.AppliedIndex >= index
	})
}

// WaitOutput waits until the node has printed a line containing substr
// (since its first start) and returns that line.
func (n *Node) WaitOutput(substr string) string {
	n.c.tb.Helper()
	var line string
	deadline := time.NewTimer(n.c.cfg.Timeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		for _, l := range n.output {
			if strings.Contains(l, substr) {
				line = l
				break
			}
		}
		wake := n.outWake
		n.mu.Unlock()
		if line != "" {
			return line
		}
		select {
		case <-wake:
		case <-deadline.C:
			n.c.tb.Fatalf("%s printed no line containing %q within %s", n.ID, substr, n.c.cfg.Timeout)
		}
	}
}

// URL returns the absolute URL of path (with its query) on this node.
func (n *Node) URL(path string) string { return "http://" + n.HTTP + path }

func (n *Node) logf(format string, args ...any) {
	n.c.logLine(n.ID, "harness: "+fmt.Sprintf(format, args...))
}

// lineWriter splits a node's output into lines for t.Log and WaitOutput.
type lineWriter struct {
	n       *Node
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.n.addOutput(line)
		w.n.c.logLine(w.n.ID, line)
	}
	return len(p), nil
}

func (n *Node) addOutput(line string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.output) >= maxOutputLines {
		n.output = append(n.output[:0], n.output[len(n.output)/2:]...)
	}
	n.output = append(n.output, line)
	close(n.outWake)
	n.outWake = make(chan struct{})
}
