package releasestoreextension

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
)

// Config configures the release store.
type Config struct {
	// ServerConfig is the HTTP server of the API (endpoint, TLS, auth...).
	confighttp.ServerConfig `mapstructure:",squash"`

	// Storage is the storage extension releases persist through. Without
	// it the store keeps state in memory only, and says so at start.
	Storage *component.ID `mapstructure:"storage"`

	// Shared makes several collectors (the replicas of a gateway fleet)
	// share one release state in PostgreSQL. Mutually exclusive with
	// Storage.
	Shared configoptional.Optional[SharedConfig] `mapstructure:"shared"`

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

// SharedConfig is the release state shared by a fleet of collectors.
type SharedConfig struct {
	// PostgreSQL is the database every replica reads and writes.
	PostgreSQL PostgreSQLConfig `mapstructure:"postgresql"`
	// Replica names this collector in the fleet, in leases, decisions'
	// records and the fleet API. Default: the host name and process id.
	Replica string `mapstructure:"replica"`
	// LeaseDuration is how long a replica keeps deciding a release without
	// renewing its lease; another replica takes over after it.
	LeaseDuration time.Duration `mapstructure:"lease_duration"`
	// KeepLog is how long applied log records are kept after a snapshot,
	// for replicas that lag behind.
	KeepLog time.Duration `mapstructure:"keep_log"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PostgreSQLConfig locates the shared database.
type PostgreSQLConfig struct {
	// DSN is a PostgreSQL connection string or URL, e.g.
	// "postgres://otelcol@db:5432/releases?sslmode=verify-full".
	DSN configopaque.String `mapstructure:"dsn"`
	// Schema holds the tables; created if missing.
	Schema string `mapstructure:"schema"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (c *SharedConfig) validate() []error {
	var errs []error
	if c.PostgreSQL.DSN == "" {
		errs = append(errs, errors.New("shared::postgresql::dsn: is required, for example postgres://otelcol@db:5432/releases"))
	}
	if !schemaName.MatchString(c.PostgreSQL.Schema) {
		errs = append(errs, fmt.Errorf("shared::postgresql::schema: must be a lower-case SQL identifier (letters, digits, _; got %q)", c.PostgreSQL.Schema))
	}
	if c.LeaseDuration < time.Second {
		errs = append(errs, fmt.Errorf("shared::lease_duration: must be at least 1s (got %s)", c.LeaseDuration))
	}
	if c.KeepLog < 0 {
		errs = append(errs, fmt.Errorf("shared::keep_log: must not be negative (got %s)", c.KeepLog))
	}
	return errs
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
	if c.Shared.HasValue() {
		if c.Storage != nil {
			errs = append(errs, errors.New("storage and shared: set one; a fleet keeps its release state in shared::postgresql, a single collector in storage"))
		}
		errs = append(errs, c.Shared.Get().validate()...)
	}
	if c.DedupeWindow <= 0 {
		errs = append(errs, fmt.Errorf("dedupe_window: %w (got %s)", errNonPositive, c.DedupeWindow))
	}
	return errors.Join(errs...)
}
