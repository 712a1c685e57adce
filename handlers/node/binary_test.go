package node_test

import (
	"os"
	"testing"

	"livefeed/handlers/node/nodetest"
)

// TestMain removes the binary that the doc examples and the restart tests
// ran (nodetest.Binary).
func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.RemoveBinary()
	os.Exit(code)
}
