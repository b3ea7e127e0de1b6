package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// TestGeneratedDistributionIsCurrent fails when cmd/otelcol-release has
// drifted from builder-config.yaml: it regenerates into a temporary
// directory and compares every generated file. Fix with `make generate`.
func TestGeneratedDistributionIsCurrent(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/tools/distgen", "-out", out)
	cmd.Dir = filepath.Join("..", "..")
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "distgen: %s", output)
	for _, name := range []string{"components.go", "main.go", "main_others.go", "main_windows.go"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		if !bytes.Equal(want, got) {
			t.Errorf("cmd/otelcol-release/%s differs from what builder-config.yaml generates; run `make generate` and commit the result", name)
		}
	}
}

func testSettings(t *testing.T) otelcol.CollectorSettings {
	t.Helper()
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-release", Version: "test"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory()},
		}},
	}
}

// TestDefaultConfigIsValid validates the embedded default config through the
// stock `validate` subcommand, as `otelcol-release validate` does.
func TestDefaultConfigIsValid(t *testing.T) {
	t.Setenv(dataDirEnv, t.TempDir())
	cmd := newCommand(testSettings(t))
	cmd.SetArgs([]string{"validate"})
	require.NoError(t, cmd.Execute())
}

// TestDefaultConfigUsesOnlyWhenNoConfigGiven checks that --config replaces
// the embedded default rather than adding to it.
func TestDefaultConfigUsesOnlyWhenNoConfigGiven(t *testing.T) {
	set := testSettings(t)
	cmd := newCommand(set)
	cmd.SetArgs([]string{"validate", "--config=embedded:nonexistent"})
	err := cmd.Execute()
	require.ErrorContains(t, err, "unknown embedded config embedded:nonexistent")
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	require.Equal(t, "/state/otelcol-release", defaultDataDir())
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/sre")
	require.Equal(t, "/home/sre/.local/state/otelcol-release", defaultDataDir())
}
