package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/chatstate/chatstate/client"
)

// LocalConfig describes a cluster of chatstated processes that chatbench
// starts on loopback.
type LocalConfig struct {
	// Nodes is 1 or 3.
	Nodes int
	// Binary is the chatstated executable.
	Binary string
	// Dir holds each node's data directory (n1, n2, ...) and log file
	// (n1.log, ...). It must exist.
	Dir string
	// Args are extra flags for every node, after chatbench's own (so they
	// can override them, e.g. --log-level or --raft-*).
	Args []string
	// StartTimeout bounds the wait for the cluster to be ready.
	StartTimeout time.Duration
	// Pprof gives every node a --pprof listener on loopback.
	Pprof bool
}

// LocalCluster is a running set of chatstated processes.
type LocalCluster struct {
	// HTTP are the nodes' HTTP addresses, n1 first.
	HTTP []string
	// Pprof are the nodes' pprof addresses when LocalConfig.Pprof.
	Pprof []string
	procs []*process
	cfg   LocalConfig
}

// process is one node's process; done closes when it has exited.
type process struct {
	id   string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // the exit error, once done
}

// chatstatedPackage is the import path `go build` compiles when no binary
// is given.
const chatstatedPackage = "github.com/chatstate/chatstate/cmd/chatstated"

// BuildChatstated compiles chatstated into dir with `go build` and returns
// the binary's path. It must run inside the chatstate module.
func BuildChatstated(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "chatstated")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, chatstatedPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: go build %s: %v\n%s", ErrSetup, chatstatedPackage, err, out)
	}
	return bin, nil
}

// StartLocal starts cfg.Nodes chatstated processes: n1 bootstraps, the
// others join it; it returns once every node is ready and the leader
// counts them all as voters. On error, whatever was started is stopped.
func StartLocal(ctx context.Context, cfg LocalConfig) (lc *LocalCluster, err error) {
	if cfg.Nodes != 1 && cfg.Nodes != 3 {
		return nil, fmt.Errorf("%w: %d nodes: chatbench starts 1 or 3", ErrInvalidConfig, cfg.Nodes)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	lc = &LocalCluster{cfg: cfg}
	defer func() {
		if err != nil {
			lc.Stop()
			lc = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	for i := 1; i <= cfg.Nodes; i++ {
		httpAddr, err := freeLoopbackAddr()
		if err != nil {
			return lc, err
		}
		raftAddr, err := freeLoopbackAddr()
		if err != nil {
			return lc, err
		}
		id := "n" + strconv.Itoa(i)
		args := []string{
			"--id", id,
			"--data", filepath.Join(cfg.Dir, id),
			"--http", httpAddr,
			"--raft", raftAddr,
			"--log-level", "warn",
		}
		if i > 1 {
			args = append(args, "--join", lc.HTTP[0])
		}
		if cfg.Pprof {
			pprofAddr, err := freeLoopbackAddr()
			if err != nil {
				return lc, err
			}
			args = append(args, "--pprof", pprofAddr)
			lc.Pprof = append(lc.Pprof, pprofAddr)
		}
		args = append(args, cfg.Args...)
		if err := lc.startProcess(id, args); err != nil {
			return lc, err
		}
		lc.HTTP = append(lc.HTTP, httpAddr)
		// Each node must be ready before the next joins: a join goes to
		// a leader, and n1 is the only candidate at first.
		if err := lc.waitReady(ctx, httpAddr); err != nil {
			return lc, fmt.Errorf("%w: %s: %v (see %s)", ErrSetup, id, err, lc.logPath(id))
		}
	}
	if err := lc.waitVoters(ctx); err != nil {
		return lc, err
	}
	return lc, nil
}

func (lc *LocalCluster) logPath(id string) string { return filepath.Join(lc.cfg.Dir, id+".log") }

func (lc *LocalCluster) startProcess(id string, args []string) error {
	logFile, err := os.Create(lc.logPath(id))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSetup, err)
	}
	cmd := exec.Command(lc.cfg.Binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	cmd.Env = lc.nodeEnv()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("%w: start %s: %v", ErrSetup, id, err)
	}
	p := &process{id: id, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	lc.procs = append(lc.procs, p)
	return nil
}

// nodeEnv is chatbench's environment plus, unless it sets one already, a
// soft memory limit (GOMEMLIMIT) of an even share of 80% of the machine's
// memory per node. Why: all nodes share one machine, and at GOGC=100 each
// node's heap may grow to twice its live data before the collector runs;
// at the standard dataset that is more than three nodes fit. The limit
// makes the collector run earlier instead.
func (lc *LocalCluster) nodeEnv() []string {
	env := os.Environ()
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return env
	}
	if total := physicalMemory(); total > 0 {
		share := total / 10 * 8 / uint64(lc.cfg.Nodes)
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", share>>20))
	}
	return env
}

// waitReady polls /readyz of addr until it answers 200.
func (lc *LocalCluster) waitReady(ctx context.Context, addr string) error {
	c, err := client.New(client.Config{Addrs: []string{addr}, AttemptTimeout: time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = c.Ready(ctx, addr); last == nil {
			return nil
		}
		if exited := lc.exited(); exited != "" {
			return fmt.Errorf("%s exited", exited)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %v", last)
		case <-tick.C:
		}
	}
}

// waitVoters waits until the leader lists every node as a voter.
func (lc *LocalCluster) waitVoters(ctx context.Context) error {
	c, err := client.New(client.Config{Addrs: lc.HTTP, AttemptTimeout: time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx)
		if err == nil && st.State == "leader" {
			voters := 0
			for _, n := range st.Nodes {
				if n.Suffrage == "voter" {
					voters++
				}
			}
			if voters == len(lc.HTTP) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the cluster did not reach %d voters", ErrSetup, len(lc.HTTP))
		case <-tick.C:
		}
	}
}

// exited returns the id of a node whose process has exited, or "".
func (lc *LocalCluster) exited() string {
	for _, p := range lc.procs {
		select {
		case <-p.done:
			return p.id
		default:
		}
	}
	return ""
}

// Pids returns the nodes' process ids, n1 first (for profiling them).
func (lc *LocalCluster) Pids() []int {
	out := make([]int, len(lc.procs))
	for i, p := range lc.procs {
		out[i] = p.cmd.Process.Pid
	}
	return out
}

// Stop sends SIGTERM to every node, waits for them to exit (chatstated
// promises a graceful exit within 30 s), and kills those that do not.
func (lc *LocalCluster) Stop() error {
	var errs []error
	for _, p := range lc.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range lc.procs {
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.id, p.err))
			}
		case <-time.After(35 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%s: killed after 35s without exiting", p.id))
		}
	}
	lc.procs = nil
	return errors.Join(errs...)
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free
// a moment ago. The port may be taken between this call and the node's
// bind; that shows as a node that does not start.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSetup, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
