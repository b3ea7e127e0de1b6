package releasestoreextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
)

// Config configures the release store.
type Config struct {
	// ServerConfig is the HTTP server of the API (endpoint, TLS, auth...).
	confighttp.ServerConfig `mapstructure:",squash"`

	// Storage is the storage extension releases persist through. Without
	// it the store keeps state in memory only, and says so at start.
	Storage *component.ID `mapstructure:"storage"`

	// MaxKeys caps the tracked (service, environment, scope) keys; beyond
	// it the least recently updated idle key is evicted.
	MaxKeys int `mapstructure:"max_keys"`
	// MaxHistory caps the releases kept per key.
	MaxHistory int `mapstructure:"max_history"`
	// MaxDecisions caps the decisions kept.
	MaxDecisions int `mapstructure:"max_decisions"`
	// DedupeWindow is how long a delivery id is remembered for idempotency.
	DedupeWindow time.Duration `mapstructure:"dedupe_window"`
	// MaxDedupeEntries caps the remembered delivery ids.
	MaxDedupeEntries int `mapstructure:"max_dedupe_entries"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	errNonPositive = errors.New("must be greater than zero")
	errNoEndpoint  = errors.New("endpoint: must be set, for example localhost:8089")
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errNoEndpoint)
	}
	// Two releases per key at least: the stable one and a candidate.
	if c.MaxHistory < 2 {
		errs = append(errs, fmt.Errorf("max_history: must be at least 2, to hold a rollout and the version it replaces (got %d)", c.MaxHistory))
	}
	for name, v := range map[string]int{
		"max_keys": c.MaxKeys, "max_decisions": c.MaxDecisions,
		"max_dedupe_entries": c.MaxDedupeEntries,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %w (got %d)", name, errNonPositive, v))
		}
	}
	if c.DedupeWindow <= 0 {
		errs = append(errs, fmt.Errorf("dedupe_window: %w (got %s)", errNonPositive, c.DedupeWindow))
	}
	return errors.Join(errs...)
}
