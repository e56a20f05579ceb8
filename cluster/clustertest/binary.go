package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BinaryEnv names the environment variable that holds the path of the
// chatstated binary the harness runs. Main sets it after building; set it
// yourself to test a binary built elsewhere (Main then skips the build).
const BinaryEnv = "CHATSTATE_TEST_BINARY"

// Package is the import path of the command the harness builds.
const Package = "github.com/chatstate/chatstate/cmd/chatstated"

// Main builds chatstated into a temporary directory (unless BinaryEnv is
// already set), runs the tests, and removes the binary. Call it from
// TestMain: os.Exit(clustertest.Main(m)).
func Main(m *testing.M) int {
	if os.Getenv(BinaryEnv) != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "chatstated-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 1
	}
	if err := os.Setenv(BinaryEnv, bin); err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 1
	}
	return m.Run()
}

// Build compiles chatstated into dir with `go build` and returns the
// binary's path. It must run inside the chatstate module (as tests do).
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "chatstated")
	cmd := exec.Command("go", "build", "-o", bin, Package)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", Package, err, out)
	}
	return bin, nil
}
