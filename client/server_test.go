package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatstate/chatstate/client"
)

// These tests run the real chatstated binary, built from ../cmd/chatstated
// once per test run, as child processes on 127.0.0.1 port 0 with data in
// t.TempDir().

type serverBinary struct {
	once sync.Once
	path string
	err  error
}

// chatstated is built on first use by the tests that need it.
var chatstated serverBinary

func (b *serverBinary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "chatstated-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "chatstated")
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/chatstated")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/chatstated: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// process is one running chatstated.
type process struct {
	ID   string
	HTTP string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	logs *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess starts node id with data in dir, joining the members at
// join (none: bootstrap), and waits until it serves HTTP. Its logs are
// shown when the test fails.
func startProcess(t *testing.T, id, dir string, join ...string) *process {
	t.Helper()
	var extra []string
	if len(join) > 0 {
		extra = append(extra, "--join", join[0])
	}
	return startProcessArgs(t, id, dir, extra...)
}

// startProcessArgs is startProcess with more flags.
func startProcessArgs(t *testing.T, id, dir string, extra ...string) *process {
	t.Helper()
	args := []string{"--id", id, "--data", dir, "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "info", "--shutdown-timeout", "10s"}
	args = append(args, extra...)
	cmd := exec.Command(chatstated.get(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{ID: id, cmd: cmd, done: make(chan struct{}), logs: &logBuffer{}}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.logs.Write(append(append([]byte(nil), line...), '\n'))
			var rec struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving" {
				select {
				case serving <- rec.HTTP:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", id, p.logs.String())
		}
	})
	select {
	case p.HTTP = <-serving:
	case <-p.done:
		t.Fatalf("%s exited before serving:\n%s", id, p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not serve within 30s:\n%s", id, p.logs.String())
	}
	return p
}

// Kill ends the process with SIGKILL and waits for it.
func (p *process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks for a graceful shutdown, and kills the process if it takes
// longer than 15s.
func (p *process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
	}
}

// waitReady waits until every address answers /readyz with 200.
func waitReady(t *testing.T, c *client.Client, addrs ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := c.Ready(ctx, addr)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready within 30s: %v", addr, err)
			}
			time.Sleep(50 * time.Millisecond) // polling a probe, not synchronising
		}
	}
}

func serverClient(t *testing.T, addrs []string, enc client.Encoding) *client.Client {
	return newClient(t, addrs, func(cfg *client.Config) {
		cfg.Encoding = enc
		cfg.Timeout = 20 * time.Second
		cfg.AttemptTimeout = 3 * time.Second
		cfg.RetryBackoffMin = 20 * time.Millisecond
		cfg.RetryBackoffMax = 500 * time.Millisecond
	})
}
