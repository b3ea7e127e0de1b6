package detect

import (
	"errors"
	"fmt"
	"time"
)

// Config parameterises detection. The processor's `detection:` section
// unmarshals into it.
type Config struct {
	// Enabled turns detection on; stamping works either way.
	Enabled bool `mapstructure:"enabled"`
	// Interval is how often the evidence is updated and looked at.
	Interval time.Duration `mapstructure:"interval"`
	// Warmup is ignored telemetry after a deploy starts: caches fill,
	// connections open.
	Warmup time.Duration `mapstructure:"warmup"`
	// MinSamples is the number of requests each side needs before any
	// verdict but "hold".
	MinSamples int `mapstructure:"min_samples"`
	// HoldAfter: if a release still lacks MinSamples this long after its
	// warm-up, a "hold" decision says so.
	HoldAfter time.Duration `mapstructure:"hold_after"`
	// MaxDuration is how long a release is evaluated after it starts.
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// MinRelativeEffect is the smallest material regression, as a ratio of
	// rates minus one (0.2: 20% more failures, or slow requests).
	MinRelativeEffect float64 `mapstructure:"min_relative_effect"`
	// MinAbsoluteEffect is the smallest material regression in absolute
	// rate (0.002: 0.2 percentage points).
	MinAbsoluteEffect float64 `mapstructure:"min_absolute_effect"`
	// BaselineWindow is how much of a key's history before a deploy serves
	// as the control when no other version runs concurrently.
	BaselineWindow time.Duration `mapstructure:"baseline_window"`
	// LatencyQuantiles are the control's quantiles whose exceedance is
	// tested; empty means 0.5, 0.95 and 0.99 (median and tail latency).
	LatencyQuantiles []float64 `mapstructure:"latency_quantiles"`
	// ServerErrorStatus is the lowest HTTP status code counted as a
	// failed request.
	ServerErrorStatus int `mapstructure:"server_error_status"`
	// Debounce is how many consecutive evaluations must agree before a
	// verdict is published.
	Debounce int `mapstructure:"debounce"`
	// MaxArms caps tracked (service, environment, scope, version) series;
	// the least recently seen is evicted.
	MaxArms int `mapstructure:"max_arms"`
	// KPIs are business metrics compared per request between versions.
	KPIs []KPIConfig `mapstructure:"kpis"`
	// Breakdown are span (or resource) attributes requests are also counted
	// by, so that a decision names the slices that regressed most (e.g.
	// http.route, cloud.region, a user segment).
	Breakdown []string `mapstructure:"breakdown"`
	// ImplicitReleases starts an evaluation when a new service.version
	// appears in an established service's telemetry with no deploy event
	// (recorded in the store with source "observed").
	ImplicitReleases bool `mapstructure:"implicit_releases"`
	// Policy maps verdicts to actions; the first matching rule wins. Empty
	// means DefaultPolicy. (List defaults are applied at start, not in the
	// default config, because configured lists would otherwise be merged
	// into them element by element.)
	Policy []PolicyRule `mapstructure:"policy"`
}

// KPIConfig configures one business KPI.
type KPIConfig struct {
	// Name names the signal in decisions ("kpi:<name>").
	Name string `mapstructure:"name"`
	// Metric is the metric's name: a sum (delta or cumulative) or a gauge
	// of counts.
	Metric string `mapstructure:"metric"`
	// Attributes filter the metric's data points; all must match.
	Attributes map[string]string `mapstructure:"attributes"`
	// Bad is the direction that hurts: "lower" (orders, sign-ups) or
	// "higher" (payment declines).
	Bad string `mapstructure:"bad"`
}

// DefaultConfig is the default detection configuration.
func DefaultConfig() Config {
	return Config{
		Enabled:           true,
		Interval:          time.Second,
		Warmup:            10 * time.Second,
		MinSamples:        100,
		HoldAfter:         time.Minute,
		MaxDuration:       30 * time.Minute,
		MinRelativeEffect: 0.2,
		MinAbsoluteEffect: 0.002,
		BaselineWindow:    10 * time.Minute,
		ServerErrorStatus: 500,
		Debounce:          2,
		MaxArms:           20000,
	}
}

// DefaultLatencyQuantiles are tested when none are configured.
var DefaultLatencyQuantiles = []float64{0.5, 0.95, 0.99}

// kpis converts the configured KPIs.
func (c Config) kpis() []KPI {
	out := make([]KPI, len(c.KPIs))
	for i, k := range c.KPIs {
		out[i] = KPI{Name: k.Name, Metric: k.Metric, Attributes: k.Attributes, LowerIsBad: k.Bad == "lower"}
	}
	return out
}

// withListDefaults fills the lists left empty.
func (c Config) withListDefaults() Config {
	if len(c.LatencyQuantiles) == 0 {
		c.LatencyQuantiles = DefaultLatencyQuantiles
	}
	if len(c.Policy) == 0 {
		c.Policy = DefaultPolicy()
	}
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	positive := map[string]time.Duration{"interval": c.Interval, "max_duration": c.MaxDuration, "baseline_window": c.BaselineWindow}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("detection::%s: must be greater than zero (got %s)", name, d))
		}
	}
	if c.Warmup < 0 || c.HoldAfter < 0 {
		errs = append(errs, errors.New("detection::warmup and detection::hold_after: must not be negative"))
	}
	if c.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("detection::min_samples: must be at least 1 (got %d)", c.MinSamples))
	}
	if c.MinRelativeEffect <= 0 {
		errs = append(errs, fmt.Errorf("detection::min_relative_effect: must be greater than zero (got %v)", c.MinRelativeEffect))
	}
	if c.MinAbsoluteEffect < 0 || c.MinAbsoluteEffect >= 1 {
		errs = append(errs, fmt.Errorf("detection::min_absolute_effect: must be in [0, 1) (got %v)", c.MinAbsoluteEffect))
	}
	for _, q := range c.LatencyQuantiles {
		if q <= 0 || q >= 1 {
			errs = append(errs, fmt.Errorf("detection::latency_quantiles: %v is not in (0, 1)", q))
		}
	}
	if c.ServerErrorStatus < 100 || c.ServerErrorStatus > 599 {
		errs = append(errs, fmt.Errorf("detection::server_error_status: %d is not an HTTP status", c.ServerErrorStatus))
	}
	if c.Debounce < 1 {
		errs = append(errs, fmt.Errorf("detection::debounce: must be at least 1 (got %d)", c.Debounce))
	}
	if c.MaxArms < 1 {
		errs = append(errs, fmt.Errorf("detection::max_arms: must be at least 1 (got %d)", c.MaxArms))
	}
	if len(c.Breakdown) > MaxBreakdown {
		errs = append(errs, fmt.Errorf("detection::breakdown: at most %d dimensions are supported (got %d)", MaxBreakdown, len(c.Breakdown)))
	}
	if len(c.KPIs) > MaxKPIs {
		errs = append(errs, fmt.Errorf("detection::kpis: at most %d are supported (got %d)", MaxKPIs, len(c.KPIs)))
	}
	seen := map[string]bool{}
	for i, k := range c.KPIs {
		switch {
		case k.Name == "" || k.Metric == "":
			errs = append(errs, fmt.Errorf("detection::kpis[%d]: name and metric are required", i))
		case k.Bad != "lower" && k.Bad != "higher":
			errs = append(errs, fmt.Errorf("detection::kpis[%d]: bad: %q is not lower or higher", i, k.Bad))
		case seen[k.Name]:
			errs = append(errs, fmt.Errorf("detection::kpis[%d]: name %q is used twice", i, k.Name))
		}
		seen[k.Name] = true
	}
	for i, r := range c.Policy {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("detection::policy[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
