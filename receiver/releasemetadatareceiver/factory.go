package releasemetadatareceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/metadata"
)

const (
	// DefaultEndpoint is where deploy events are received unless configured.
	DefaultEndpoint = "localhost:8088"
	// defaultMaxBodySize bounds one delivery; vendor webhooks are small.
	defaultMaxBodySize = 1 << 20
)

// Type is the component type of the receiver.
var Type = metadata.Type

// NewFactory returns the release-metadata receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type, createDefaultConfig, receiver.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = DefaultEndpoint
	srv.MaxRequestBodySize = defaultMaxBodySize
	return &Config{
		ServerConfig:  srv,
		Sources:       map[string]SourceConfig{},
		MaxFutureSkew: 5 * time.Minute,
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
