package cluster_test

import (
	"os"
	"testing"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

// TestMain builds chatstated once for the tests that run real clusters.
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
