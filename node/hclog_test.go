package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLoggerOverSlog(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slogLevelTrace}))
	l := newHCLogger(base, "raft")

	l.Named("net").With("peer", "n2").Warn("heartbeat failed", "error", "refused")
	l.Trace("tick")
	out := buf.String()
	for _, want := range []string{"level=WARN", `msg="heartbeat failed"`, "logger=raft.net", "peer=n2", "error=refused", "msg=tick", "level=DEBUG-4"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "logger=") != 2 {
		t.Errorf("each record should name its logger once:\n%s", out)
	}

	buf.Reset()
	l.SetLevel(hclog.Warn)
	l.Info("hidden")
	if buf.Len() != 0 || l.IsInfo() || !l.IsWarn() {
		t.Errorf("SetLevel(Warn) lets Info through: %q", buf.String())
	}

	// The handler's own level is respected too.
	quiet := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), "raft")
	if quiet.IsWarn() || !quiet.IsError() {
		t.Error("handler level ignored")
	}
	// nil discards without failing.
	newHCLogger(nil, "raft").Error("dropped")
	quiet.StandardLogger(nil).Print("via the standard logger")
}
