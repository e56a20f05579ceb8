package cluster_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// chatState is the model's state of one chat: who it is assigned to and
// how many customer and operator messages it holds. Every chat starts
// with the customer's first message, unassigned.
type chatState struct {
	assignee string
	count    int
}

// chatModel returns the sequential specification the recorded histories are
// checked against (API.md, "Transitions"): a customer message appends; an
// operator reply appends and takes an unassigned chat, and is refused
// with 409 not_participant on a chat assigned to someone else (the
// workload never joins); a read sees the state. New messages get seq
// count+1: the workload causes no system entries.
func chatModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byChat := map[int][]porcupine.Operation{}
			var chats []int
			for _, op := range history {
				c := op.Input.(chatInput).Chat
				if _, ok := byChat[c]; !ok {
					chats = append(chats, c)
				}
				byChat[c] = append(byChat[c], op)
			}
			out := make([][]porcupine.Operation, 0, len(chats))
			for _, c := range chats {
				out = append(out, byChat[c])
			}
			return out
		},
		Init: func() any { return chatState{count: 1} },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(chatState), input.(chatInput), output.(chatOutput)
			switch in.Kind {
			case opRead:
				return out.Status == 200 && out.Count == s.count && out.Assignee == s.assignee, s
			case opCustomer:
				next := chatState{assignee: s.assignee, count: s.count + 1}
				if out.Unknown {
					return true, next
				}
				return out.Status == 201 && out.Seq == next.count && out.Count == next.count && out.Assignee == next.assignee, next
			case opReply:
				if s.assignee != "" && s.assignee != in.Operator {
					return out.Unknown || (out.Status == 409 && out.Code == "not_participant"), s
				}
				next := chatState{assignee: in.Operator, count: s.count + 1}
				if out.Unknown {
					return true, next
				}
				return out.Status == 201 && out.Seq == next.count && out.Count == next.count && out.Assignee == next.assignee, next
			}
			return false, s
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(chatInput), output.(chatOutput)
			var res string
			switch {
			case out.Unknown:
				res = "unknown"
			case out.Status >= 300:
				res = fmt.Sprintf("%d %s", out.Status, out.Code)
			default:
				res = fmt.Sprintf("seq=%d count=%d assignee=%q", out.Seq, out.Count, out.Assignee)
			}
			who := ""
			if in.Kind == opReply {
				who = " by " + in.Operator
			}
			return fmt.Sprintf("chat %d %s%s %s -> %s", in.Chat, in.Kind, who, in.Text, res)
		},
		DescribeState: func(state any) string {
			s := state.(chatState)
			return fmt.Sprintf("assignee=%q count=%d", s.assignee, s.count)
		},
	}
}

// checkLinearizable checks the workload's history against chatModel.
// Writes whose outcome is unknown never return (porcupine may then place
// them anywhere after their call, or nowhere that is observed). On
// failure it writes porcupine's visualization to a directory that
// outlives the test and logs its path.
func (w *workload) checkLinearizable() {
	t := w.t
	t.Helper()
	ops := w.operations()
	history := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		ret := int64(math.MaxInt64)
		if op.ret >= 0 {
			ret = int64(op.ret)
		}
		history = append(history, porcupine.Operation{
			ClientId: op.client, Input: op.in, Output: op.out, Call: int64(op.call), Return: ret,
		})
	}
	res, info := porcupine.CheckOperationsVerbose(chatModel(), history, time.Minute)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizable: %d operations", len(history))
	case porcupine.Unknown:
		t.Logf("linearizability check timed out on %d operations (no violation found)", len(history))
	default:
		dir, err := os.MkdirTemp("", "chatstate-linearizability-")
		if err != nil {
			t.Errorf("history of %d operations is not linearizable (no visualization: %v)", len(history), err)
			return
		}
		path := filepath.Join(dir, "history.html")
		if err := porcupine.VisualizePath(chatModel(), info, path); err != nil {
			t.Errorf("history of %d operations is not linearizable (visualization failed: %v)", len(history), err)
			return
		}
		t.Errorf("history of %d operations is not linearizable; see %s", len(history), path)
	}
}

// TestChatModelRejectsWrongHistories guards the checker itself: a lost
// write, a stale read and a doubly applied write must all be caught.
func TestChatModelRejectsWrongHistories(t *testing.T) {
	write := func(client int, text string, call, ret int64, seq int) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input:  chatInput{Chat: 1, Kind: opCustomer, Text: text},
			Output: chatOutput{Status: 201, Seq: seq, Count: seq}}
	}
	read := func(client int, call, ret int64, count int, assignee string) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: chatInput{Chat: 1, Kind: opRead}, Output: chatOutput{Status: 200, Count: count, Assignee: assignee}}
	}
	reply := func(client int, op string, call, ret int64, out chatOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: chatInput{Chat: 1, Kind: opReply, Operator: op, Text: op}, Output: out}
	}
	unknown := func(client int, call int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: math.MaxInt64,
			Input: chatInput{Chat: 1, Kind: opCustomer, Text: "u"}, Output: chatOutput{Unknown: true}}
	}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"sequential writes and a read", []porcupine.Operation{write(0, "a", 0, 1, 2), write(0, "b", 2, 3, 3), read(1, 4, 5, 3, "")}, true},
		{"concurrent writes in either order", []porcupine.Operation{write(0, "a", 0, 10, 3), write(1, "b", 1, 9, 2)}, true},
		{"stale read after an acknowledged write", []porcupine.Operation{write(0, "a", 0, 1, 2), read(1, 2, 3, 1, "")}, false},
		{"two writes acknowledged at the same seq", []porcupine.Operation{write(0, "a", 0, 1, 2), write(1, "b", 2, 3, 2)}, false},
		{"unknown write seen by a later read", []porcupine.Operation{unknown(0, 0), read(1, 5, 6, 2, "")}, true},
		{"unknown write never seen", []porcupine.Operation{unknown(0, 0), read(1, 5, 6, 1, "")}, true},
		{"unknown write applied twice", []porcupine.Operation{unknown(0, 0), read(1, 5, 6, 3, "")}, false},
		{"reply takes the chat, the other operator is refused", []porcupine.Operation{
			reply(0, "ann", 0, 1, chatOutput{Status: 201, Seq: 2, Count: 2, Assignee: "ann"}),
			reply(1, "bob", 2, 3, chatOutput{Status: 409, Code: "not_participant"}),
			read(2, 4, 5, 2, "ann")}, true},
		{"both operators take the chat", []porcupine.Operation{
			reply(0, "ann", 0, 1, chatOutput{Status: 201, Seq: 2, Count: 2, Assignee: "ann"}),
			reply(1, "bob", 2, 3, chatOutput{Status: 201, Seq: 3, Count: 3, Assignee: "bob"})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(chatModel(), tt.history); got != tt.want {
				t.Fatalf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}
