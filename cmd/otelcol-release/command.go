package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/otelcol-release/otelcol-release/internal/memlimit"
)

// The embedded default config: used when no --config (or --set) is given.
//
//go:embed default-config.yaml
var defaultConfig []byte

const (
	embeddedScheme = "embedded"
	// defaultConfigURI names the embedded default config; it is what
	// `otelcol-release` runs with no flags.
	defaultConfigURI = embeddedScheme + ":default"
	// dataDirEnv overrides where the default config persists release state.
	dataDirEnv = "OTELCOL_RELEASE_DATA_DIR"
)

// newCommand is the stock collector command with three additions: the
// embedded default config when no --config is given, the data directory
// default that config relies on, and a soft memory limit from the
// container's when GOMEMLIMIT is not set. Everything else (validate,
// components, --set, --feature-gates, providers) is the stock behaviour.
func newCommand(set otelcol.CollectorSettings) *cobra.Command {
	rs := &set.ConfigProviderSettings.ResolverSettings
	rs.ProviderFactories = append(rs.ProviderFactories, confmap.NewProviderFactory(newEmbeddedProvider))
	if len(rs.URIs) == 0 {
		rs.URIs = []string{defaultConfigURI}
	}
	if rs.DefaultScheme == "" {
		// What otelcol.NewCommand would choose, chosen here so that replay
		// resolves ${VAR} the same way.
		rs.DefaultScheme = "env"
	}
	if os.Getenv(dataDirEnv) == "" {
		_ = os.Setenv(dataDirEnv, defaultDataDir())
	}
	if limit, container, ok := memlimit.Apply(); ok {
		// Before the collector's logger exists; one line, as Go's own
		// runtime notices are.
		fmt.Fprintf(os.Stderr, "otelcol-release: GOMEMLIMIT is not set: soft memory limit %d MiB, %.0f%% of the container's %d MiB (set GOMEMLIMIT to choose another, or off)\n",
			limit>>20, memlimit.Ratio*100, container>>20)
	}
	cmd := otelcol.NewCommand(set)
	cmd.AddCommand(newReplayCommand(*rs))
	return cmd
}

// defaultDataDir follows the XDG base directory convention for state.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "otelcol-release")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "otelcol-release")
	}
	return "otelcol-release-data"
}

// embeddedProvider serves configs compiled into the binary.
type embeddedProvider struct{}

func newEmbeddedProvider(confmap.ProviderSettings) confmap.Provider { return embeddedProvider{} }

func (embeddedProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if uri != defaultConfigURI {
		return nil, &unknownEmbeddedError{uri: uri}
	}
	return confmap.NewRetrievedFromYAML(defaultConfig)
}

func (embeddedProvider) Scheme() string { return embeddedScheme }

func (embeddedProvider) Shutdown(context.Context) error { return nil }

type unknownEmbeddedError struct{ uri string }

func (e *unknownEmbeddedError) Error() string {
	return "unknown embedded config " + e.uri + "; the only one is " + defaultConfigURI
}
