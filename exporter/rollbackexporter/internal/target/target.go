// Package target holds the systems decisions are carried out on: CD
// systems, feature-flag systems, chat and paging. Each is a file that
// registers a Factory in init(); adding a target is adding a file.
package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Action is one decision to carry out on one target.
type Action struct {
	Decision *release.Decision
	// Release is the release as the store knows it (feature flags, VCS
	// identity...); nil when the store does not have it.
	Release *release.Release
	// Target is the configured target's name.
	Target string
	// IdempotencyKey is stable across retries and restarts: targets that
	// support one send it, so the remote side de-duplicates too.
	IdempotencyKey string
}

// Env is what targets act through.
type Env struct {
	// HTTP sends requests. In dry run, requests that change something are
	// recorded and answered 200 without being sent; reads go through.
	HTTP *http.Client
	// Now is the clock.
	Now func() time.Time
	// OperatorURL is the base URL of the operator page, for links.
	OperatorURL string
	// TraceURL turns a trace id into a link ("" when not configured).
	TraceURL func(traceID string) string
	// DryRun tells targets that mutations are recorded, not sent (for
	// targets whose client bypasses HTTP, such as a file rewrite).
	DryRun bool
}

// Target carries out actions on one system.
type Target interface {
	// Act carries the action out. A returned error is transient (retried
	// with backoff) unless it wraps ErrPermanent. The summary says what
	// was done, for the audit trail.
	Act(ctx context.Context, env Env, a Action) (summary string, err error)
}

// Factory registers a target type.
type Factory struct {
	// Type is the key in a target's configuration (webhook, unleash...).
	Type string
	// Actions are the actions this type carries out by default when the
	// target's match does not say; others are skipped for it.
	Actions []release.Action
	// NewConfig returns a pointer to the type's default configuration;
	// mapstructure tags name its keys. If it has a Validate() error method,
	// that is called.
	NewConfig func() any
	// New builds a target from a validated configuration.
	New func(cfg any) (Target, error)
}

var registry = map[string]Factory{}

// Register adds a target type; a duplicate is a programming error.
func Register(f Factory) {
	if _, dup := registry[f.Type]; dup {
		panic("target: duplicate type " + f.Type)
	}
	registry[f.Type] = f
}

// Lookup returns a registered type.
func Lookup(typ string) (Factory, bool) {
	f, ok := registry[typ]
	return f, ok
}

// Types lists the registered types, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrPermanent marks failures that retrying cannot fix (4xx other than 408
// and 429, a refused precondition such as auto-sync).
var ErrPermanent = errors.New("permanent")

// Permanent wraps err as permanent.
func Permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPermanent, fmt.Sprintf(format, args...))
}

// Expand resolves {attribute} placeholders from the decision's release
// identity: {service.name}, {service.namespace}, {deployment.environment.name},
// {service.version}, {deployment.id}, {previous_version}, and any scope
// attribute; then from the stored release's attributes ({vcs.ref.head.revision},
// {cicd.pipeline.run.id}...). Unknown placeholders are left as they are.
func Expand(tmpl string, a Action) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		name := tmpl[i+1 : i+j]
		b.WriteString(tmpl[:i])
		if v, ok := a.Decision.Release[name]; ok {
			b.WriteString(v)
		} else if v, ok := releaseAttr(a, name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
}

func releaseAttr(a Action, name string) (string, bool) {
	if a.Release == nil {
		return "", false
	}
	v, ok := a.Release.Attributes[name]
	return v, ok
}

// Flags returns the feature flags the release changed: from the store's
// release, else from the decision's release block (a gateway may act on a
// decision about a release it never saw).
func Flags(a Action) []release.FeatureFlag {
	if a.Release != nil && len(a.Release.Release.FeatureFlags) > 0 {
		return a.Release.Release.FeatureFlags
	}
	var out []release.FeatureFlag
	for _, part := range strings.Split(a.Decision.Release[release.DecisionFeatureFlags], ",") {
		key, variant, _ := strings.Cut(strings.TrimSpace(part), "=")
		if key != "" {
			out = append(out, release.FeatureFlag{Key: key, Variant: variant})
		}
	}
	return out
}
