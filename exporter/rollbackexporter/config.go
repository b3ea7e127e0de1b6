package rollbackexporter

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/target"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Config configures the rollback exporter.
type Config struct {
	// DryRun records what would be sent, body included, and sends nothing
	// that changes anything. Each target may also set it.
	DryRun bool `mapstructure:"dry_run"`
	// RequireApproval lists environments (glob patterns) whose automated
	// actions (pause, flag_off, rollback) wait for a person.
	RequireApproval []string `mapstructure:"require_approval"`
	// MaxActions is the brake: at most Count automated actions per
	// environment Per window; beyond it decisions only notify, and say so.
	MaxActions BrakeConfig `mapstructure:"max_actions"`
	// Targets are the systems actions go to.
	Targets []TargetConfig `mapstructure:"targets"`
	// Store names the releasestore extension outcomes are written to; it
	// may be omitted when exactly one is configured.
	Store *component.ID `mapstructure:"store"`
	// Storage persists the ledger (which decision was carried out where).
	// Defaults to sending_queue's storage; without either, the ledger is
	// kept in memory.
	Storage *component.ID `mapstructure:"storage"`
	// OperatorURL is the operator page's base URL, for links in messages.
	OperatorURL string `mapstructure:"operator_url"`
	// TraceURLTemplate turns a trace id into a link: "{trace_id}" is
	// replaced (e.g. http://jaeger:16686/trace/{trace_id}).
	TraceURLTemplate string `mapstructure:"trace_url_template"`
	// Timeout bounds one request to a target.
	Timeout time.Duration `mapstructure:"timeout"`

	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig drives retries of transient failures of each target;
	// when they run out the outcome is recorded as failed.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// BrakeConfig limits automated actions per environment.
type BrakeConfig struct {
	Count int           `mapstructure:"count"`
	Per   time.Duration `mapstructure:"per"`
}

// MatchConfig selects the decisions a target acts on; empty lists match
// everything (actions: the type's defaults).
type MatchConfig struct {
	Environments []string         `mapstructure:"environments"`
	Services     []string         `mapstructure:"services"`
	Actions      []release.Action `mapstructure:"actions"`
}

// TargetConfig is one target: a name, what it matches, and exactly one
// target type key (webhook, unleash, argo_rollouts...) with its settings.
type TargetConfig struct {
	Name   string      `mapstructure:"name"`
	DryRun *bool       `mapstructure:"dry_run"`
	Match  MatchConfig `mapstructure:"match"`
	// Type and Settings come from the type key.
	Type     string `mapstructure:"-"`
	Settings any    `mapstructure:"-"`
}

var baseTargetKeys = []string{"name", "dry_run", "match"}

// Unmarshal reads a target: the registry says which keys are target types.
func (t *TargetConfig) Unmarshal(conf *confmap.Conf) error {
	raw := conf.ToStringMap()
	base := map[string]any{}
	var types []string
	for k, v := range raw {
		switch {
		case slices.Contains(baseTargetKeys, k):
			base[k] = v
		default:
			if _, ok := target.Lookup(k); !ok {
				return fmt.Errorf("%q is neither a target setting (%s) nor a target type (%s)", k,
					strings.Join(baseTargetKeys, ", "), strings.Join(target.Types(), ", "))
			}
			types = append(types, k)
		}
	}
	if len(types) != 1 {
		return fmt.Errorf("a target needs exactly one target type key (one of %s), found %d", strings.Join(target.Types(), ", "), len(types))
	}
	var b struct {
		Name   string      `mapstructure:"name"`
		DryRun *bool       `mapstructure:"dry_run"`
		Match  MatchConfig `mapstructure:"match"`
	}
	if err := confmap.NewFromStringMap(base).Unmarshal(&b); err != nil {
		return err
	}
	t.Name, t.DryRun, t.Match, t.Type = b.Name, b.DryRun, b.Match, types[0]
	f, _ := target.Lookup(t.Type)
	t.Settings = f.NewConfig()
	sub, err := conf.Sub(t.Type)
	if err != nil {
		return err
	}
	if err := sub.Unmarshal(t.Settings); err != nil {
		return fmt.Errorf("%s: %w", t.Type, err)
	}
	return nil
}

// automated actions change production; notify and hold only tell.
func automated(a release.Action) bool {
	return a == release.ActionPause || a == release.ActionFlagOff || a == release.ActionRollback
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, t := range c.Targets {
		where := fmt.Sprintf("targets[%d]", i)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name: required", where))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("%s: name: %q is used twice", where, t.Name))
		}
		names[t.Name] = true
		for _, a := range t.Match.Actions {
			switch a {
			case release.ActionNotify, release.ActionPause, release.ActionFlagOff, release.ActionRollback, release.ActionHold, release.ActionNone:
			default:
				errs = append(errs, fmt.Errorf("%s: match::actions: %q is not an action", where, a))
			}
		}
		for _, p := range append(append([]string{}, t.Match.Environments...), t.Match.Services...) {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s: match: pattern %q: %w", where, p, err))
			}
		}
		if v, ok := t.Settings.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %s: %w", where, t.Name, t.Type, err))
			}
		}
	}
	if c.MaxActions.Count < 0 || (c.MaxActions.Count > 0 && c.MaxActions.Per <= 0) {
		errs = append(errs, errors.New("max_actions: count must be >= 0, and per > 0 when count is set"))
	}
	for _, p := range c.RequireApproval {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("require_approval: pattern %q: %w", p, err))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be greater than zero (got %s)", c.Timeout))
	}
	return errors.Join(errs...)
}
