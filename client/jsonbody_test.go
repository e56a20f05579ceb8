package client

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The hand-written bodies decode, with encoding/json, to what
// encoding/json itself would have written.
func TestJSONBodiesMatchEncodingJSON(t *testing.T) {
	bodies := []jsonAppender{
		nameBody{Name: "Acme \"quoted\" \\ \n\t\x01 ünï"},
		operatorBody{Name: "Ann"},
		operatorBody{Name: "Ann", Email: String("ann@example.com")},
		messageBody{Author: Customer(), Text: "hello?"},
		messageBody{Author: OperatorAuthor("ann"), Text: "<b>&</b>\u2028"},
		operatorField{Operator: "bob"},
		assignBody{Operator: nil, By: "ann"},
		assignBody{Operator: String("cid"), By: "ann"},
		readNotificationsBody{UpTo: 1<<53 + 1},
		CreateChatRequest{Contact: Contact{Type: ContactTypeVisitor}, Source: SourceEmail, Text: "x"},
		CreateChatRequest{Contact: Contact{ID: String("c1"), Type: ContactTypeContact, Name: String("J"), Email: String("j@x")}, Source: SourceChatPage, Text: "y"},
		JoinRequest{ID: "n2", Raft: "127.0.0.1:9002", HTTP: "127.0.0.1:8002"},
	}
	for _, body := range bodies {
		ours := body.appendJSON(nil)
		theirs, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Fatalf("%T: %s does not parse: %v", body, ours, err)
		}
		if err := json.Unmarshal(theirs, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%T:\n ours   %s\n theirs %s", body, ours, theirs)
		}
	}
}

// Invalid UTF-8 reaches the server unchanged (for its 400), where
// encoding/json would have replaced it.
func TestJSONBodyKeepsInvalidUTF8(t *testing.T) {
	got := string(operatorField{Operator: "a\xffb"}.appendJSON(nil))
	if got != "{\"operator\":\"a\xffb\"}" {
		t.Fatalf("got %q", got)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\"\\\x00\x1f\u2028ü")
	f.Add("a\xffb")
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		if !utf8.ValidString(s) {
			return // sent as is for the server to refuse
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, out, err)
		}
		if back != s {
			t.Fatalf("%q came back as %q", s, back)
		}
	})
}
