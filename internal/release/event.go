package release

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EventType is the lifecycle step a deploy event reports.
type EventType string

const (
	EventStarted    EventType = "started"
	EventProgressed EventType = "progressed"
	EventSucceeded  EventType = "succeeded"
	EventFailed     EventType = "failed"
	EventRolledBack EventType = "rolled_back"
	// EventRemoved is not part of the native document; CDEvents'
	// service.removed maps to it.
	EventRemoved EventType = "removed"
)

// NativeEventTypes are the values the native document accepts for "type".
var NativeEventTypes = []EventType{EventStarted, EventProgressed, EventSucceeded, EventFailed, EventRolledBack}

func (t EventType) valid() bool {
	switch t {
	case EventStarted, EventProgressed, EventSucceeded, EventFailed, EventRolledBack, EventRemoved:
		return true
	}
	return false
}

// Strategy is how the new version reaches users.
type Strategy string

const (
	StrategyCanary    Strategy = "canary"
	StrategyBlueGreen Strategy = "blue_green"
	StrategyRolling   Strategy = "rolling"
	StrategyAllAtOnce Strategy = "all_at_once"
)

var strategyAliases = map[string]Strategy{
	"canary": StrategyCanary, "blue_green": StrategyBlueGreen, "blue-green": StrategyBlueGreen,
	"bluegreen": StrategyBlueGreen, "rolling": StrategyRolling, "rollingupdate": StrategyRolling,
	"rolling_update": StrategyRolling, "all_at_once": StrategyAllAtOnce, "all-at-once": StrategyAllAtOnce,
	"recreate": StrategyAllAtOnce, "big_bang": StrategyAllAtOnce,
}

// Risk levels accepted in release.risk.
var riskLevels = []string{"low", "medium", "high", "critical"}

// FeatureFlag is a flag the release changed.
type FeatureFlag struct {
	Key     string `json:"key"`
	Variant string `json:"variant,omitempty"`
}

// Context is everything about a release that is not a semantic-convention
// attribute: the native document's "release" object.
type Context struct {
	PreviousVersion   string            `json:"previous_version,omitempty"`
	Strategy          Strategy          `json:"strategy,omitempty"`
	RolloutPercentage *float64          `json:"rollout_percentage,omitempty"`
	FeatureFlags      []FeatureFlag     `json:"feature_flags,omitempty"`
	Intent            string            `json:"intent,omitempty"`
	Risk              string            `json:"risk,omitempty"`
	Owner             string            `json:"owner,omitempty"`
	Scope             map[string]string `json:"scope,omitempty"`
}

// Event is one deploy event from any source, in the shape of the native
// document. Source parsers produce it; the store applies it.
type Event struct {
	ID         string            `json:"id"`
	Type       EventType         `json:"type"`
	Time       time.Time         `json:"time"`
	ReceivedAt time.Time         `json:"received_at"`
	Source     string            `json:"source"`
	Attributes map[string]string `json:"attributes"`
	Release    Context           `json:"release"`
	// RestoresVersion says that a rolled_back event names the version the
	// service returns to (CDEvents service.rolledback), not the version
	// rolled back (the native document): that version is live afterwards.
	RestoresVersion bool `json:"restores_version,omitempty"`
}

// Attr returns a semantic-convention attribute of the event.
func (e *Event) Attr(name string) string { return e.Attributes[name] }

// DeploymentID identifies the release this event belongs to: the explicit
// deployment.id attribute, else the event id. Several lifecycle events of one
// deployment share it.
func (e *Event) DeploymentID() string {
	if id := e.Attributes[AttrDeploymentID]; id != "" {
		return id
	}
	return e.ID
}

// Key is the release key the event applies to.
func (e *Event) Key() Key {
	return Key{
		Service: ServiceKey{
			Namespace:   e.Attributes[AttrServiceNamespace],
			Name:        e.Attributes[AttrServiceName],
			Environment: e.Attributes[AttrDeploymentEnvironment],
		},
		Scope: CanonicalScope(e.Release.Scope),
	}
}

// DedupeKey identifies one delivery: the same id and type (and, for
// "progressed", the same percentage) from the same source is a duplicate.
func (e *Event) DedupeKey() string {
	k := e.Source + "\x00" + e.ID + "\x00" + string(e.Type)
	if e.Type == EventProgressed && e.Release.RolloutPercentage != nil {
		k += "\x00" + strconv.FormatFloat(*e.Release.RolloutPercentage, 'g', -1, 64)
	}
	return k
}

// Limits on free-form input, so one event cannot bloat the store.
const (
	maxIDLength        = 256
	maxKeyLength       = 256
	maxValueLength     = 1024
	maxTextLength      = 4096
	maxAttributes      = 64
	maxFeatureFlags    = 64
	maxScopeAttributes = 8
)

// Gates are the data-quality rules applied to every event at ingestion.
type Gates struct {
	// MaxFutureSkew rejects events whose time is further in the future.
	MaxFutureSkew time.Duration
	// EnvironmentAliases maps lower-cased environment names to canonical ones.
	EnvironmentAliases map[string]string
}

// DefaultEnvironmentAliases are the aliases used when none are configured.
func DefaultEnvironmentAliases() map[string]string {
	return map[string]string{
		"prod": "production", "prd": "production", "live": "production",
		"stage": "staging", "stg": "staging",
		"dev": "development", "develop": "development",
		"qa": "test", "testing": "test",
	}
}

// CanonicalEnvironment resolves an environment name through aliases (keyed
// by lower-cased name), the way deploy events are normalised, so telemetry
// and events name an environment alike. It allocates only for a name with
// upper-case letters.
func CanonicalEnvironment(env string, aliases map[string]string) string {
	if canonical, ok := aliases[env]; ok {
		return canonical
	}
	for i := 0; i < len(env); i++ {
		if c := env[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			lower := strings.ToLower(env)
			if canonical, ok := aliases[lower]; ok {
				return canonical
			}
			return lower
		}
	}
	return env
}

// Normalize applies the gates in place: renames deprecated attributes, trims
// values, resolves environment aliases and strategy spellings, fills the time,
// and rejects what breaks a rule with a FieldError naming the field.
func (g Gates) Normalize(e *Event) error {
	if e.Attributes == nil {
		e.Attributes = map[string]string{}
	}
	for old, current := range DeprecatedAttributes {
		if v, ok := e.Attributes[old]; ok {
			if strings.TrimSpace(e.Attributes[current]) == "" {
				e.Attributes[current] = v
			}
			delete(e.Attributes, old)
		}
	}
	if len(e.Attributes) > maxAttributes {
		return Fieldf("attributes", RuleRange, "has %d entries; at most %d are accepted", len(e.Attributes), maxAttributes)
	}
	for k, v := range e.Attributes {
		if len(k) > maxKeyLength {
			return Fieldf("attributes", RuleTooLong, "has a key of %d bytes; at most %d are accepted", len(k), maxKeyLength)
		}
		v = strings.TrimSpace(v)
		if len(v) > maxValueLength {
			return Fieldf("attributes."+k, RuleTooLong, "is %d bytes long; at most %d are accepted", len(v), maxValueLength)
		}
		if v == "" {
			delete(e.Attributes, k)
			continue
		}
		e.Attributes[k] = v
	}

	e.ID = strings.TrimSpace(e.ID)
	if e.Type == "" {
		return Fieldf("type", RuleRequired, "is required; one of %s", joinTypes(NativeEventTypes))
	}
	if !e.Type.valid() {
		return Fieldf("type", RuleEnum, "%q is not a deploy event type; one of %s", e.Type, joinTypes(NativeEventTypes))
	}
	for _, name := range []string{AttrServiceName, AttrServiceVersion, AttrDeploymentEnvironment} {
		// A removal ends whatever version runs; it need not name one.
		if e.Attributes[name] == "" && !(name == AttrServiceVersion && e.Type == EventRemoved) {
			return Fieldf("attributes."+name, RuleRequired, "is required")
		}
	}
	env := CanonicalEnvironment(e.Attributes[AttrDeploymentEnvironment], g.EnvironmentAliases)
	if len(env) > maxValueLength {
		return Fieldf("attributes."+AttrDeploymentEnvironment, RuleTooLong, "is longer than %d bytes", maxValueLength)
	}
	e.Attributes[AttrDeploymentEnvironment] = env
	if id := e.Attributes[AttrDeploymentID]; id == "" && e.ID == "" {
		return Fieldf("id", RuleRequired, "is required (or attributes.%s)", AttrDeploymentID)
	}
	if e.ID == "" {
		e.ID = e.Attributes[AttrDeploymentID]
	}
	if len(e.ID) > maxIDLength {
		return Fieldf("id", RuleTooLong, "is %d bytes long; at most %d are accepted", len(e.ID), maxIDLength)
	}
	if id := e.Attributes[AttrDeploymentID]; len(id) > maxIDLength {
		return Fieldf("attributes."+AttrDeploymentID, RuleTooLong, "is %d bytes long; at most %d are accepted", len(id), maxIDLength)
	}

	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now().UTC()
	}
	if e.Time.IsZero() {
		e.Time = e.ReceivedAt
	} else if g.MaxFutureSkew > 0 && e.Time.Sub(e.ReceivedAt) > g.MaxFutureSkew {
		return Fieldf("time", RuleFuture, "%s is %s ahead of the receive time; at most %s is accepted",
			e.Time.Format(time.RFC3339), e.Time.Sub(e.ReceivedAt).Round(time.Second), g.MaxFutureSkew)
	}
	e.Time = e.Time.UTC()
	if y := e.Time.Year(); y < 1970 || y > 9999 {
		return Fieldf("time", RuleRange, "year %d is outside 1970..9999", y)
	}

	return e.Release.normalize()
}

func (c *Context) normalize() error {
	c.PreviousVersion = strings.TrimSpace(c.PreviousVersion)
	if len(c.PreviousVersion) > maxValueLength {
		return Fieldf("release.previous_version", RuleTooLong, "is longer than %d bytes", maxValueLength)
	}
	c.Strategy = Strategy(strings.TrimSpace(string(c.Strategy)))
	if c.Strategy != "" {
		s, ok := strategyAliases[strings.ToLower(string(c.Strategy))]
		if !ok {
			return Fieldf("release.strategy", RuleEnum, "%q is not a rollout strategy; one of canary, blue_green, rolling, all_at_once", c.Strategy)
		}
		c.Strategy = s
	}
	if p := c.RolloutPercentage; p != nil && (*p < 0 || *p > 100 || *p != *p) {
		return Fieldf("release.rollout_percentage", RuleRange, "%v is outside 0..100", *p)
	}
	if len(c.FeatureFlags) > maxFeatureFlags {
		return Fieldf("release.feature_flags", RuleRange, "has %d flags; at most %d are accepted", len(c.FeatureFlags), maxFeatureFlags)
	}
	for i := range c.FeatureFlags {
		f := &c.FeatureFlags[i]
		f.Key, f.Variant = strings.TrimSpace(f.Key), strings.TrimSpace(f.Variant)
		if f.Key == "" {
			return Fieldf(fmt.Sprintf("release.feature_flags[%d].key", i), RuleRequired, "is required")
		}
		if len(f.Key) > maxValueLength || len(f.Variant) > maxValueLength {
			return Fieldf(fmt.Sprintf("release.feature_flags[%d]", i), RuleTooLong, "key or variant is longer than %d bytes", maxValueLength)
		}
	}
	for name, v := range map[string]*string{"intent": &c.Intent, "owner": &c.Owner} {
		*v = strings.TrimSpace(*v)
		if len(*v) > maxTextLength {
			return Fieldf("release."+name, RuleTooLong, "is %d bytes long; at most %d are accepted", len(*v), maxTextLength)
		}
	}
	c.Risk = strings.ToLower(strings.TrimSpace(c.Risk))
	if c.Risk != "" {
		if !contains(riskLevels, c.Risk) {
			return Fieldf("release.risk", RuleEnum, "%q is not a risk level; one of %s", c.Risk, strings.Join(riskLevels, ", "))
		}
	}
	if len(c.Scope) > maxScopeAttributes {
		return Fieldf("release.scope", RuleRange, "has %d keys; at most %d are accepted", len(c.Scope), maxScopeAttributes)
	}
	for k, v := range c.Scope {
		if strings.ContainsAny(k, "=,") || strings.ContainsAny(v, ",") || strings.TrimSpace(k) != k || k == "" {
			return Fieldf("release.scope."+k, RuleFormat, "scope keys must be non-empty, without surrounding space and without '=' or ','; values may not contain ','")
		}
		if len(k) > maxKeyLength || len(v) > maxValueLength {
			return Fieldf("release.scope."+k, RuleTooLong, "scope keys are limited to %d bytes and values to %d", maxKeyLength, maxValueLength)
		}
		if v = strings.TrimSpace(v); v == "" {
			delete(c.Scope, k)
		} else {
			c.Scope[k] = v
		}
	}
	return nil
}

// NormalizeVersion is the form in which versions are compared (never stored):
// surrounding space trimmed, a leading "v" before a digit dropped, and build
// metadata after "+" dropped, so "v1.4.2", "1.4.2" and "1.4.2+b7" are the same
// version.
func NormalizeVersion(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if i := strings.IndexByte(v, '+'); i > 0 {
		v = v[:i]
	}
	return v
}

func joinTypes(ts []EventType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
