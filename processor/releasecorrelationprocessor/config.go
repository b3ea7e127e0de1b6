package releasecorrelationprocessor

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/stamp"
)

// Config configures the correlation processor.
type Config struct {
	// Store names the releasestore extension; it may be omitted when exactly
	// one is configured.
	Store *component.ID `mapstructure:"store"`

	// Environment is used for resources that carry no
	// deployment.environment.name (an agent usually knows its environment).
	Environment string `mapstructure:"environment"`

	// EnvironmentAliases map environment names (case-insensitive) on
	// telemetry to canonical ones, over the defaults (prod -> production,
	// stg -> staging, ...) that deploy events are normalised with too.
	EnvironmentAliases map[string]string `mapstructure:"environment_aliases"`

	// Overwrite lets stamped attributes replace ones the telemetry already
	// carries. Off by default: what the application says wins.
	Overwrite bool `mapstructure:"overwrite"`

	// Attributes are the per-signal allow-lists of stamped attributes.
	Attributes AttributesConfig `mapstructure:"attributes"`

	// Detection compares each new version with its control as telemetry
	// streams, and publishes decisions to the store.
	Detection detect.Config `mapstructure:"detection"`

	// clock replaces the wall clock and the evaluation ticker: with it set,
	// time only moves when the caller says (simulation and replay).
	clock detect.Clock

	// prevent unkeyed literal initialization
	_ struct{}
}

// AttributesConfig lists, per signal, which attributes are stamped.
type AttributesConfig struct {
	Traces  []string `mapstructure:"traces"`
	Metrics []string `mapstructure:"metrics"`
	Logs    []string `mapstructure:"logs"`
}

var errUnknownAttribute = errors.New("is not a stampable attribute")

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	for signal, list := range map[string][]string{"traces": c.Attributes.Traces, "metrics": c.Attributes.Metrics, "logs": c.Attributes.Logs} {
		for _, a := range list {
			if !stamp.Known(stamp.Field(a)) {
				errs = append(errs, fmt.Errorf("attributes::%s: %q %w; one of %v", signal, a, errUnknownAttribute, stamp.AllFields))
			}
		}
	}
	return errors.Join(errs...)
}

// environmentAliases is the alias table: the defaults the receiver uses,
// overridden by the configured ones.
func (c *Config) environmentAliases() map[string]string {
	aliases := release.DefaultEnvironmentAliases()
	for k, v := range c.EnvironmentAliases {
		aliases[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
	}
	return aliases
}

func fields(names []string) []stamp.Field {
	out := make([]stamp.Field, len(names))
	for i, n := range names {
		out[i] = stamp.Field(n)
	}
	return out
}

func names(fs []stamp.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
