package releasestoreextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/metadata"
)

const (
	// DefaultEndpoint is where the API listens unless configured.
	DefaultEndpoint = "localhost:8089"
)

// Type is the component type of the release store.
var Type = metadata.Type

// NewFactory returns the release store extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = DefaultEndpoint
	return &Config{
		ServerConfig: srv,
		Shared: configoptional.Default(SharedConfig{
			PostgreSQL:    PostgreSQLConfig{Schema: "otelcol_release"},
			LeaseDuration: 5 * time.Second,
			KeepLog:       10 * time.Minute,
		}),
		MaxKeys:          10000,
		MaxHistory:       20,
		MaxDecisions:     10000,
		DedupeWindow:     24 * time.Hour,
		MaxDedupeEntries: 100000,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newStore(cfg.(*Config), set)
}
