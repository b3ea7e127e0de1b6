package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedMetadataIsCurrent fails when a component's generated files
// (internal/metadata, documentation.md, generated tests, README status
// table) have drifted from its metadata.yaml: it regenerates into a
// temporary directory and compares. Fix with `make generate`.
func TestGeneratedMetadataIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	out := t.TempDir()
	require.NoError(t, generate(root, out))
	problems, err := diff(root, out)
	require.NoError(t, err)
	for _, p := range problems {
		t.Errorf("%s; run `make generate` and commit the result", p)
	}
}
