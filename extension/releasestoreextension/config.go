package releasestoreextension

import (
	"errors"
	"fmt"
	"strings"
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

	// TraceURLTemplate links exemplar trace ids on the operator page to a
	// trace UI: "{trace_id}" is replaced by the id, for example
	// "http://localhost:16686/trace/{trace_id}" (Jaeger). Empty: no links.
	TraceURLTemplate string `mapstructure:"trace_url_template"`

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
	if t := c.TraceURLTemplate; t != "" {
		if !strings.HasPrefix(t, "http://") && !strings.HasPrefix(t, "https://") {
			errs = append(errs, fmt.Errorf("trace_url_template: must be an http or https URL (got %q)", t))
		} else if !strings.Contains(t, "{trace_id}") {
			errs = append(errs, fmt.Errorf("trace_url_template: must contain {trace_id} (got %q)", t))
		}
	}
	if c.DedupeWindow <= 0 {
		errs = append(errs, fmt.Errorf("dedupe_window: %w (got %s)", errNonPositive, c.DedupeWindow))
	}
	return errors.Join(errs...)
}
