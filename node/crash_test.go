package node_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatstate/chatstate/fsm"
	"github.com/chatstate/chatstate/node"
)

const (
	crashChildEnv   = "CHATSTATE_NODE_CRASH_CHILD"
	crashDirEnv     = "CHATSTATE_NODE_CRASH_DIR"
	crashRoundEnv   = "CHATSTATE_NODE_CRASH_ROUND"
	crashSnapEnv    = "CHATSTATE_NODE_CRASH_SNAPSHOTS"
	crashWriterSize = 8
)

// runCrashChild runs a single-node cluster in the given directory and
// writes until it is killed. It prints one line per acknowledged command,
// after Propose returned it:
//
//	start <last snapshot index> <applied index>
//	snap <index>   (a snapshot completed; snapshot rounds only)
//	acct <account> <index>
//	chat <account> <chat id> <index> <text>
//	msg <account> <chat id> <seq> <index> <text>
func runCrashChild() {
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	cfg := fastConfig(nil, "n1", os.Getenv(crashDirEnv), true)
	if os.Getenv(crashSnapEnv) != "" {
		// Snapshot often and keep few logs, so that recovery restores a
		// snapshot and replays the log after it.
		cfg.SnapshotThreshold = 64
		cfg.SnapshotInterval = 20 * time.Millisecond
		cfg.TrailingLogs = 16
	}
	n, err := node.Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "wait leader:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		out.Unlock()
	}
	st := n.Status()
	snap := uint64(0)
	if st.LastSnapshot != nil {
		snap = st.LastSnapshot.Index
	}
	say("start %d %d", snap, n.FSM().AppliedIndex())
	if os.Getenv(crashSnapEnv) != "" {
		// Report each completed snapshot, so that the parent can wait
		// for one before it kills: a snapshot paced beside a stream of
		// writes may take longer than a round's writes.
		go func() {
			for last := snap; ; time.Sleep(5 * time.Millisecond) {
				if s := n.Status().LastSnapshot; s != nil && s.Index > last {
					last = s.Index
					say("snap %d", last)
				}
			}
		}()
	}

	propose := func(cmd fsm.Command) (fsm.Result, uint64) {
		res, index, err := n.Propose(context.Background(), cmd)
		if err != nil || res.Err != nil {
			fmt.Fprintln(os.Stderr, "propose:", err, res.Err)
			os.Exit(2)
		}
		return res, index
	}
	var wg sync.WaitGroup
	for g := range crashWriterSize {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprintf("r%dg%d", round, g)
			h := header(account)
			_, index := propose(&fsm.UpsertAccount{Header: h, Name: account})
			say("acct %s %d", account, index)
			for i := 0; ; i++ {
				text := fmt.Sprintf("hello-%s-%d", account, i)
				res, index := propose(&fsm.CreateChat{Header: h, Contact: fsm.Contact{Type: fsm.ContactTypeVisitor}, Source: fsm.SourceChatPage, Text: text})
				say("chat %s %d %d %s", account, res.Chat.ID, index, text)
				text = fmt.Sprintf("again-%s-%d", account, i)
				res, index = propose(&fsm.CustomerMessage{Header: h, Chat: res.Chat.ID, Text: text})
				say("msg %s %d %d %d %s", account, res.Chat.ID, res.Message.Seq, index, text)
			}
		}()
	}
	wg.Wait()
}

// ackedChat is what the child acknowledged about one chat.
type ackedChat struct {
	account string
	id      int64
	first   string           // text of the first message
	msgs    map[int64]string // seq -> text of later customer messages
}

// TestCrashDurability kills a node process at random moments, many times
// over, restarting it on the same data directory each time, and checks
// that everything it acknowledged is still there. Some rounds snapshot
// often, so that recovery goes through a snapshot plus log replay.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process per round; skipped in -short mode")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const rounds = 12
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	accounts := map[string]bool{}
	chats := map[string]*ackedChat{}
	chatKey := func(account string, id int64) string { return account + "/" + strconv.FormatInt(id, 10) }
	var lastIndex uint64
	snapshotRecoveries := 0

	for round := range rounds {
		snapshots := round%2 == 1
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(),
			crashChildEnv+"=1", crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
		if snapshots {
			cmd.Env = append(cmd.Env, crashSnapEnv+"=1")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()

		// Kill after a random number of acknowledgements (a random moment
		// in the write stream, independent of the machine's speed). A
		// snapshot round also waits until a snapshot has completed and a
		// write after it was acknowledged, so that the next start
		// recovers through a snapshot plus log replay.
		killAfter := 20 + rng.IntN(400)
		acks := 0
		var snapIndex, ackIndex uint64
		due := func() bool {
			return acks >= killAfter && (!snapshots || snapIndex > 0 && ackIndex > snapIndex)
		}
		deadline := time.After(30 * time.Second)
		killed := false
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(line)
				switch f[0] {
				case "start":
					snap, _ := strconv.ParseUint(f[1], 10, 64)
					applied, _ := strconv.ParseUint(f[2], 10, 64)
					if applied < lastIndex {
						t.Fatalf("round %d: restarted at applied index %d, below acknowledged index %d", round, applied, lastIndex)
					}
					if snap > 0 && applied > snap {
						snapshotRecoveries++
					}
					continue
				case "snap":
					if snapIndex == 0 {
						snapIndex, _ = strconv.ParseUint(f[1], 10, 64)
					}
					continue
				case "acct":
					accounts[f[1]] = true
				case "chat":
					id, _ := strconv.ParseInt(f[2], 10, 64)
					chats[chatKey(f[1], id)] = &ackedChat{account: f[1], id: id, first: f[4], msgs: map[int64]string{}}
				case "msg":
					id, _ := strconv.ParseInt(f[2], 10, 64)
					seq, _ := strconv.ParseInt(f[3], 10, 64)
					chats[chatKey(f[1], id)].msgs[seq] = f[5]
				}
				idx, _ := strconv.ParseUint(f[len(f)-2], 10, 64)
				if f[0] == "acct" {
					idx, _ = strconv.ParseUint(f[2], 10, 64)
				}
				lastIndex = max(lastIndex, idx)
				ackIndex = max(ackIndex, idx)
				acks++
				if due() && !killed {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("round %d: child stuck after %d acknowledgements; stderr:\n%s", round, acks, stderr.String())
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !killed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v before it was killed; stderr:\n%s", round, err, stderr.String())
		}
		t.Logf("round %d (snapshots %v): killed after %d acknowledgements", round, snapshots, acks)
	}

	// Recover in this process and check every acknowledgement. A fixed
	// port keeps the recorded address, and so the state, equal across the
	// two recoveries below.
	cfg := fastConfig(t, "n1", dir, true)
	cfg.RaftAddr = freeAddr(t)
	n := openNode(t, cfg)
	waitLeader(t, n)
	if applied := n.FSM().AppliedIndex(); applied < lastIndex {
		t.Fatalf("recovered applied index %d < acknowledged %d", applied, lastIndex)
	}
	f := n.FSM()
	for a := range accounts {
		if _, err := f.Account(a); err != nil {
			t.Fatalf("acknowledged account %s: %v", a, err)
		}
	}
	for key, c := range chats {
		page, err := f.Messages(c.account, c.id, 0, 500)
		if err != nil {
			t.Fatalf("acknowledged chat %s: %v", key, err)
		}
		bySeq := map[int64]string{}
		for _, m := range page.Messages {
			bySeq[m.Seq] = m.Text
		}
		if bySeq[1] != c.first {
			t.Fatalf("chat %s: first message %q, acknowledged %q", key, bySeq[1], c.first)
		}
		for seq, text := range c.msgs {
			if bySeq[seq] != text {
				t.Fatalf("chat %s: message %d is %q, acknowledged %q", key, seq, bySeq[seq], text)
			}
		}
	}
	if snapshotRecoveries == 0 {
		t.Errorf("no round recovered through a snapshot plus log replay")
	}

	// Recovery is deterministic: recovering again gives the same bytes.
	before := persist(t, f)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := openNode(t, cfg)
	waitLeader(t, n2)
	after := persist(t, n2.FSM())
	if !bytes.Equal(before, after) {
		t.Errorf("state differs between two recoveries of the same data (%d vs %d bytes)", len(before), len(after))
	}
	t.Logf("%d accounts and %d chats acknowledged over %d kills; %d recoveries via snapshot + log", len(accounts), len(chats), rounds, snapshotRecoveries)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a node that must keep its address across restarts.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
