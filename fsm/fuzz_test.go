package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chatstate/chatstate/fsm"
)

// FuzzDecodeCommand: malformed bytes are an error wrapping
// ErrMalformedCommand, never a panic; what decodes re-encodes and decodes
// to the same command.
func FuzzDecodeCommand(f *testing.F) {
	email := "ann@example.com"
	seeds := []fsm.Command{
		&fsm.Noop{},
		&fsm.UpsertAccount{Header: fsm.Header{Account: "acme", Time: t0, IdempotencyKey: "k", Fingerprint: []byte{1, 2}}, Name: "Acme"},
		&fsm.UpsertOperator{Header: fsm.Header{Account: "acme", Time: t0}, Operator: "ann", Name: "Ann", Email: &email},
		&fsm.RemoveOperator{Header: fsm.Header{Account: "acme"}, Operator: "ann"},
		&fsm.CreateChat{Header: fsm.Header{Account: "acme"}, Contact: fsm.Contact{Type: fsm.ContactTypeContact, Email: &email}, Source: fsm.SourceChatPage, Text: "hi"},
		&fsm.CustomerMessage{Chat: 1, Text: "x"},
		&fsm.OperatorMessage{Chat: 1, Operator: "ann", Text: "y"},
		&fsm.Join{ChatAction: act(1, "bob")},
		&fsm.Leave{ChatAction: act(1, "bob")},
		&fsm.MarkUnread{ChatAction: act(2, "bob")},
		&fsm.MarkRead{ChatAction: act(2, "bob")},
		&fsm.Close{ChatAction: act(2, "bob")},
		&fsm.Reopen{ChatAction: act(2, "bob")},
		&fsm.Assign{Chat: 3, Operator: "cid", By: "ann"},
		&fsm.ReadNotifications{Operator: "ann", UpTo: 9},
		&fsm.CreateKey{KeyID: "k1", Hash: [32]byte{9}},
		&fsm.RevokeKey{KeyID: "k1"},
		&fsm.SetNode{NodeID: "n1", Raft: "a", HTTP: "b"},
		&fsm.RemoveNode{NodeID: "n1"},
	}
	var encoded [][]byte
	for _, c := range seeds {
		b, err := fsm.EncodeCommand(c)
		if err != nil {
			f.Fatal(err)
		}
		encoded = append(encoded, b)
		f.Add(b)
	}
	f.Add(fsm.EncodeBatch(encoded))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if cmds, err := fsm.DecodeBatch(b); err != nil {
			if !errors.Is(err, fsm.ErrMalformedCommand) {
				t.Fatalf("DecodeBatch error %v does not wrap ErrMalformedCommand", err)
			}
		} else {
			for _, c := range cmds {
				_, _ = fsm.DecodeCommand(c)
			}
		}
		cmd, err := fsm.DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, fsm.ErrMalformedCommand) {
				t.Fatalf("DecodeCommand error %v does not wrap ErrMalformedCommand", err)
			}
			return
		}
		again, err := fsm.EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		cmd2, err := fsm.DecodeCommand(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		again2, _ := fsm.EncodeCommand(cmd2)
		if string(again) != string(again2) {
			t.Fatalf("encoding is not stable")
		}
	})
}

// FuzzRestore: whatever the bytes, Restore returns (an error wrapping
// ErrBadSnapshot for garbage) and never panics or leaves a half state.
func FuzzRestore(f *testing.F) {
	h := recordedWorkload(f, smallConfig(), 21, 120)
	f.Add(snapshotBytes(f, h.f))
	f.Add(snapshotBytes(f, fsm.New(fsm.DefaultConfig())))
	f.Fuzz(func(t *testing.T, b []byte) {
		target := fsm.New(smallConfig())
		if err := target.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
			if !errors.Is(err, fsm.ErrBadSnapshot) {
				t.Fatalf("Restore error %v does not wrap ErrBadSnapshot", err)
			}
			if len(target.Accounts()) != 0 {
				t.Fatal("a failed restore changed the state")
			}
			return
		}
		// What restores must persist again without error.
		_ = snapshotBytes(t, target)
	})
}

// TestCommandCodecRoundTrip covers every width of the MessagePack integer,
// string and binary encodings.
func TestCommandCodecRoundTrip(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63}
	for _, v := range ints {
		for _, size := range []int{0, 31, 32, 255, 256, 65535, 65536, 70000} {
			text := strings.Repeat("a", size)
			fp := bytes.Repeat([]byte{7}, size)
			in := &fsm.ReadNotifications{Header: fsm.Header{Account: text, Time: fsm.Millis(v), IdempotencyKey: text, Fingerprint: fp}, Operator: text, UpTo: v}
			b, err := fsm.EncodeCommand(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := fsm.DecodeCommand(b)
			if err != nil {
				t.Fatalf("value %d size %d: %v", v, size, err)
			}
			got := out.(*fsm.ReadNotifications)
			if got.UpTo != v || got.Time != fsm.Millis(v) || got.Operator != text || !bytes.Equal(got.Fingerprint, fp) || got.Account != text {
				t.Fatalf("value %d size %d: round trip gave %d/%d", v, size, got.UpTo, got.Time)
			}
		}
	}
	if _, err := fsm.DecodeCommand(append(mustEncode(t, &fsm.Noop{}), 0)); !errors.Is(err, fsm.ErrMalformedCommand) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := fsm.DecodeBatch(append(fsm.EncodeBatch([][]byte{mustEncode(t, &fsm.Noop{})}), 0)); !errors.Is(err, fsm.ErrMalformedCommand) {
		t.Fatalf("trailing byte after batch: %v", err)
	}
}

func TestEnumNames(t *testing.T) {
	for _, s := range []string{"active", "closed"} {
		if v, ok := fsm.ParseStatus(s); !ok || v.String() != s {
			t.Fatalf("status %s", s)
		}
	}
	for _, ct := range fsm.AllContactTypes {
		if v, ok := fsm.ParseContactType(ct.String()); !ok || v != ct {
			t.Fatalf("contact type %s", ct)
		}
	}
	for _, src := range fsm.AllSources {
		if v, ok := fsm.ParseSource(src.String()); !ok || v != src {
			t.Fatalf("source %s", src)
		}
	}
	for _, e := range fsm.AllEventTypes {
		if v, ok := fsm.ParseEventType(e.String()); !ok || v != e {
			t.Fatalf("event type %s", e)
		}
	}
	if _, ok := fsm.ParseSource("fax"); ok {
		t.Fatal("unknown source parsed")
	}
	if fsm.Status(9).String() != "unknown(9)" {
		t.Fatal("unknown enum name")
	}
}
