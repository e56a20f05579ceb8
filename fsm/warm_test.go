package fsm_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/chatstate/chatstate/fsm"
)

// TestWarmingChangesNothing applies the same batches to a state machine
// that reads ahead of each batch and to one that does not, and requires
// the same results and the same snapshot. The batches mix a random
// workload with commands that name missing accounts, chats and operators,
// so that reading ahead also meets what does not exist.
func TestWarmingChangesNothing(t *testing.T) {
	h := recordedWorkload(t, smallConfig(), 13, 2400)
	var cmds [][]byte
	for _, entry := range h.log {
		encoded, err := fsm.DecodeBatch(entry)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, encoded...)
	}
	rng := rand.New(rand.NewSource(13))
	bad := []fsm.Command{
		&fsm.CustomerMessage{Header: fsm.Header{Account: "nobody"}, Chat: 1, Text: "hi"},
		&fsm.CustomerMessage{Header: fsm.Header{Account: "acme"}, Chat: 1 << 40, Text: "hi"},
		&fsm.CustomerMessage{Header: fsm.Header{Account: "acme"}, Chat: -3, Text: "hi"},
		&fsm.OperatorMessage{Header: fsm.Header{Account: "beta"}, Chat: 2, Operator: "zed", Text: "hi"},
		&fsm.Join{ChatAction: fsm.ChatAction{Header: fsm.Header{Account: "beta"}, Chat: 0, Operator: "ann"}},
		&fsm.Assign{Header: fsm.Header{Account: "acme"}, Chat: 3, Operator: "bob", By: "zed"},
	}
	var batches [][]byte
	for len(cmds) > 0 {
		n := min(1+rng.Intn(64), len(cmds))
		batch := append([][]byte(nil), cmds[:n]...)
		cmds = cmds[n:]
		for range rng.Intn(3) {
			cmd := bad[rng.Intn(len(bad))]
			cmd.Head().Time = 1
			enc, err := fsm.EncodeCommand(cmd)
			if err != nil {
				t.Fatal(err)
			}
			at := rng.Intn(len(batch) + 1)
			batch = append(batch[:at], append([][]byte{enc}, batch[at:]...)...)
		}
		batches = append(batches, fsm.EncodeBatch(batch))
	}

	warmed, unwarmed := fsm.New(smallConfig()), fsm.New(smallConfig())
	fsm.SetBatchWarming(unwarmed, false)
	for i, data := range batches {
		l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}
		a, b := warmed.Apply(l).([]fsm.Result), unwarmed.Apply(l).([]fsm.Result)
		for k := range a {
			if renderResult(a[k]) != renderResult(b[k]) {
				t.Fatalf("entry %d, command %d: %s with warming, %s without", i+1, k, renderResult(a[k]), renderResult(b[k]))
			}
		}
	}
	if !bytes.Equal(snapshotBytes(t, warmed), snapshotBytes(t, unwarmed)) {
		t.Fatal("snapshots differ with and without warming")
	}
	if dump(t, warmed) != dump(t, unwarmed) {
		t.Fatal("reads differ with and without warming")
	}
}

func renderResult(r fsm.Result) string {
	s := fmt.Sprintf("err=%v created=%v replayed=%v index=%d unread=%d key=%q", r.Err, r.Created, r.Replayed, r.Index, r.UnreadCount, r.KeyID)
	if r.Account != nil {
		s += fmt.Sprintf(" account=%+v", *r.Account)
	}
	if r.Operator != nil {
		s += fmt.Sprintf(" operator=%s", r.Operator.ID)
	}
	if r.Chat != nil {
		s += " chat=" + renderChat(r.Chat)
	}
	if r.Message != nil {
		s += fmt.Sprintf(" message=%+v", *r.Message)
	}
	return s
}
