package node_test

import (
	"os"
	"testing"

	"github.com/chatstate/chatstate/node"
)

// TestMain doubles as the crash test's child process: when
// crashChildEnv is set, the test binary runs a node that writes until it
// is killed (see crash_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		runCrashChild()
		os.Exit(0)
	}
	code := m.Run()
	node.RemoveBenchFixtures()
	os.Exit(code)
}
