package snapstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

// The crash tests run this test binary again as a child process that writes
// snapshots and is killed with SIGKILL by the test; the environment tells
// TestMain which writer to be.
const (
	envChildRole  = "SNAPSTORE_TEST_CHILD"
	envChildPath  = "SNAPSTORE_TEST_PATH"
	envChildIndex = "SNAPSTORE_TEST_FIRST_INDEX"

	crashChunkSize = 64 << 10
	// busyChunkSize is small so that the busy writer completes snapshots
	// often and a kill lands in every phase of one.
	busyChunkSize = 4 << 10
)

func TestMain(m *testing.M) {
	switch role := os.Getenv(envChildRole); role {
	case "":
		// Every reader's loader goroutine must stop when it closes.
		goleak.VerifyTestMain(m)
	case "slow":
		os.Exit(runChild(slowWriter))
	case "busy":
		os.Exit(runChild(busyWriter))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envChildRole, role)
		os.Exit(2)
	}
}

func runChild(write func(path string, firstIndex uint64) error) int {
	firstIndex, err := strconv.ParseUint(os.Getenv(envChildIndex), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad first index:", err)
		return 2
	}
	if err := write(os.Getenv(envChildPath), firstIndex); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// slowWriter writes one large snapshot a chunk at a time, reporting each
// committed chunk on stdout, until it is killed (or gives up after a
// minute, in case its parent is gone).
func slowWriter(path string, index uint64) error {
	cfg := snapstore.DefaultConfig()
	cfg.ChunkSize = crashChunkSize
	s, err := snapstore.Open(path, cfg)
	if err != nil {
		return err
	}
	sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		return err
	}
	fmt.Printf("pending %s\n", sink.ID())
	data := payloadReader(index)
	chunk := make([]byte, crashChunkSize)
	deadline := time.Now().Add(time.Minute)
	for n := 1; time.Now().Before(deadline); n++ {
		data.Read(chunk)
		// A write that fills the buffer commits the chunk before returning.
		if _, err := sink.Write(chunk); err != nil {
			return err
		}
		fmt.Printf("chunk %d\n", n)
		time.Sleep(5 * time.Millisecond) // pacing, so the kill lands mid-snapshot
	}
	return errors.New("slow writer was not killed within a minute")
}

// busySize is the size of the busy writer's snapshot at index: a few
// chunks, rarely a multiple of the chunk size.
func busySize(index uint64) int {
	return int(index%7)*busyChunkSize + int(index%101)
}

// busyWriter completes snapshot after snapshot, reporting each one on
// stdout once Close returned, until it is killed.
func busyWriter(path string, firstIndex uint64) error {
	cfg := snapstore.DefaultConfig()
	cfg.ChunkSize = busyChunkSize
	s, err := snapstore.Open(path, cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for index := firstIndex; time.Now().Before(deadline); index++ {
		sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 0, nil)
		if err != nil {
			return err
		}
		for data := payload(index, busySize(index)); len(data) > 0; {
			n := min(1000, len(data))
			if _, err := sink.Write(data[:n]); err != nil {
				return err
			}
			data = data[n:]
		}
		if err := sink.Close(); err != nil {
			return err
		}
		fmt.Printf("done %s %d\n", sink.ID(), index)
	}
	return errors.New("busy writer was not killed within a minute")
}

// child is a writer process and the lines it reports.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
}

func startChild(t *testing.T, role, path string, firstIndex uint64) *child {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChildRole+"="+role,
		envChildPath+"="+path,
		envChildIndex+"="+strconv.FormatUint(firstIndex, 10),
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024), stderr: new(strings.Builder)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s writer: %v", role, err)
	}
	go func() {
		defer close(c.lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			c.lines <- scanner.Text()
		}
	}()
	return c
}

// await returns the next line the child reports, failing the test if the
// child exits or stays silent for 30 seconds.
func (c *child) await(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			err := c.cmd.Wait()
			t.Fatalf("the writer exited early (%v): %s", err, c.stderr)
		}
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("the writer reported nothing for 30s: %s", c.stderr)
	}
	return ""
}

// kill sends SIGKILL and waits for the child to die of it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	err := c.cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != -1 {
		t.Fatalf("the writer did not die of the kill: %v: %s", err, c.stderr)
	}
	for range c.lines { // drain what it wrote before dying
	}
}

// TestCrashMidWrite kills a process in the middle of writing a large
// snapshot. The partial snapshot must not be listed, its chunks must be
// deleted by the next Open, and the earlier snapshots must still verify.
func TestCrashMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	cfg := testConfig(t)
	cfg.ChunkSize = crashChunkSize
	s := openStore(t, path, cfg)
	first := payload(1, 5*crashChunkSize+17)
	firstID := writeSnapshot(t, s, 1, 1, first, 32<<10)
	second := payload(2, 3*crashChunkSize)
	secondID := writeSnapshot(t, s, 2, 1, second, 32<<10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	writer := startChild(t, "slow", path, 3)
	pendingID, ok := strings.CutPrefix(writer.await(t), "pending ")
	if !ok {
		t.Fatalf("the writer did not report its pending snapshot")
	}
	const chunksBeforeKill = 8
	for n := 1; n <= chunksBeforeKill; n++ {
		if line, want := writer.await(t), fmt.Sprintf("chunk %d", n); line != want {
			t.Fatalf("writer reported %q, want %q", line, want)
		}
	}
	writer.kill(t)

	onDisk, err := snapstore.ChunkBucketsInFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if onDisk[pendingID] < chunksBeforeKill {
		t.Fatalf("the killed writer left %d chunks on disk, want at least %d (chunks: %v)", onDisk[pendingID], chunksBeforeKill, onDisk)
	}
	t.Logf("the killed writer left %d chunks of %s", onDisk[pendingID], pendingID)

	s = openStore(t, path, cfg)
	if got, want := listIDs(t, s), []string{secondID, firstID}; !slices.Equal(got, want) {
		t.Fatalf("List after the crash: got %v, want %v", got, want)
	}
	if _, _, err := s.Open(pendingID); !errors.Is(err, snapstore.ErrNotFound) {
		t.Fatalf("Open of the partial snapshot: got %v, want ErrNotFound", err)
	}
	if buckets := chunkBuckets(t, s); len(buckets) != 2 || buckets[firstID] != 6 || buckets[secondID] != 3 {
		t.Fatalf("chunks after reopening: %v, want only %s's 6 and %s's 3", buckets, firstID, secondID)
	}
	_, got := readSnapshot(t, s, firstID)
	mustEqualBytes(t, "first snapshot", got, first)
	_, got = readSnapshot(t, s, secondID)
	mustEqualBytes(t, "second snapshot", got, second)

	// The store goes on, and does not reuse the dead snapshot's id.
	third := payload(3, crashChunkSize+1)
	thirdID := writeSnapshot(t, s, 3, 1, third, 32<<10)
	if thirdID == pendingID {
		t.Fatalf("the new snapshot reuses the id %s of the discarded one", thirdID)
	}
	_, got = readSnapshot(t, s, thirdID)
	mustEqualBytes(t, "snapshot after recovery", got, third)
}

// TestCrashAtArbitraryPoints kills a writer that completes snapshots
// back to back, at a point it does not choose (writing a chunk, committing
// the metadata, reaping), several times over one file. After each kill the
// store must list only complete, verifiable snapshots, at least as new as
// the last one the writer saw complete, and keep no other chunks.
func TestCrashAtArbitraryPoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshots.db")
	cfg := testConfig(t)
	cfg.ChunkSize = busyChunkSize
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points drawn with seed %d", seed)
	random := rand.New(rand.NewPCG(seed, 1))
	for round := range 5 {
		firstIndex := uint64(round+1) * 1000
		writer := startChild(t, "busy", path, firstIndex)
		completions := 2 + random.IntN(5)
		var lastDone uint64
		for range completions {
			fields := strings.Fields(writer.await(t))
			if len(fields) != 3 || fields[0] != "done" {
				t.Fatalf("round %d: the writer reported %q", round, fields)
			}
			lastDone, _ = strconv.ParseUint(fields[2], 10, 64)
		}
		// Let the writer run on for up to a few milliseconds, so that the
		// kill lands anywhere in its cycle rather than just after a report.
		time.Sleep(time.Duration(random.IntN(3000)) * time.Microsecond)
		writer.kill(t)
		onDisk, err := snapstore.ChunkBucketsInFile(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}

		s, err := snapstore.Open(path, cfg)
		if err != nil {
			t.Fatalf("round %d: Open after the kill: %v", round, err)
		}
		metas, err := s.List()
		if err != nil {
			t.Fatalf("round %d: List: %v", round, err)
		}
		if len(metas) != cfg.Retain {
			t.Fatalf("round %d: %d snapshots listed, want %d", round, len(metas), cfg.Retain)
		}
		if metas[0].Index < lastDone {
			t.Fatalf("round %d: newest listed index %d, but the writer had completed %d", round, metas[0].Index, lastDone)
		}
		listed := make(map[string]bool)
		for _, meta := range metas {
			listed[meta.ID] = true
			if want := int64(busySize(meta.Index)); meta.Size != want {
				t.Fatalf("round %d: snapshot %s has size %d, want %d", round, meta.ID, meta.Size, want)
			}
			_, rc, err := s.Open(meta.ID)
			if err != nil {
				t.Fatalf("round %d: Open(%s): %v", round, meta.ID, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("round %d: read %s: %v", round, meta.ID, err)
			}
			mustEqualBytes(t, "snapshot "+meta.ID, got, payload(meta.Index, busySize(meta.Index)))
		}
		buckets := chunkBuckets(t, s)
		for id := range buckets {
			if !listed[id] {
				t.Fatalf("round %d: chunks of %s kept, which is not listed (chunks: %v)", round, id, buckets)
			}
		}
		t.Logf("round %d: killed after %d reported completions, with chunks of %d snapshots on disk; %v listed",
			round, completions, len(onDisk), slices.Sorted(maps.Keys(listed)))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
