package releasemetadatareceiver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/source"
)

// Config configures the release-metadata receiver.
type Config struct {
	// ServerConfig is the HTTP server deploy events arrive on.
	confighttp.ServerConfig `mapstructure:",squash"`

	// Store names the releasestore extension; it may be omitted when
	// exactly one is configured.
	Store *component.ID `mapstructure:"store"`

	// Sources configures each event source by name (native, cdevents,
	// github, gitlab, argocd, flux). Every source is enabled by default.
	Sources map[string]SourceConfig `mapstructure:"sources"`

	// MaxFutureSkew rejects events timestamped further in the future than
	// this, relative to the receive time.
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`

	// EnvironmentAliases map environment names (case-insensitive) to the
	// canonical deployment.environment.name. They are added to the
	// defaults (prod -> production, stg -> staging, dev -> development...);
	// map a name to itself to switch a default off.
	EnvironmentAliases map[string]string `mapstructure:"environment_aliases"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SourceConfig configures one event source.
type SourceConfig struct {
	// Enabled serves the source's path; nil means enabled.
	Enabled *bool `mapstructure:"enabled"`
	// Secret authenticates deliveries as the source signs them: the HMAC
	// key for GitHub, Flux generic-hmac and X-Signature-256, the token for
	// GitLab and Bearer auth. When set, unsigned or wrongly signed requests
	// are rejected with 401 and nothing is stored.
	Secret configopaque.String `mapstructure:"secret"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func (s SourceConfig) enabled() bool { return s.Enabled == nil || *s.Enabled }

var errUnknownSource = errors.New("is not an event source")

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, for example localhost:8088"))
	}
	for name := range c.Sources {
		if _, ok := source.Lookup(name); !ok {
			errs = append(errs, fmt.Errorf("sources::%s: %w; known sources: %s", name, errUnknownSource, strings.Join(sourceNames(), ", ")))
		}
	}
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max_future_skew: must not be negative (got %s)", c.MaxFutureSkew))
	}
	for alias, canonical := range c.EnvironmentAliases {
		if strings.TrimSpace(alias) == "" || strings.TrimSpace(canonical) == "" {
			errs = append(errs, fmt.Errorf("environment_aliases: %q -> %q: names must not be empty", alias, canonical))
		}
	}
	return errors.Join(errs...)
}

func sourceNames() []string {
	defs := source.Definitions()
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return names
}
