package release

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testReceivedAt = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// validEvent is an event that passes every gate.
func validEvent() *Event {
	return &Event{
		ID:         "deploy-1",
		Type:       EventStarted,
		ReceivedAt: testReceivedAt,
		Source:     "native",
		Attributes: map[string]string{
			AttrServiceName:           "checkout",
			AttrServiceVersion:        "v1.4.2",
			AttrDeploymentEnvironment: "production",
		},
	}
}

func testGates() Gates {
	return Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
}

func TestNormalizeValidEventUnchanged(t *testing.T) {
	e := validEvent()
	e.Time = testReceivedAt.Add(-time.Hour)
	require.NoError(t, testGates().Normalize(e))
	want := validEvent()
	want.Time = testReceivedAt.Add(-time.Hour)
	assert.Equal(t, want, e)
}

func TestNormalizeRequired(t *testing.T) {
	for _, name := range []string{AttrServiceName, AttrServiceVersion, AttrDeploymentEnvironment} {
		for label, mutate := range map[string]func(map[string]string){
			"missing": func(m map[string]string) { delete(m, name) },
			"empty":   func(m map[string]string) { m[name] = "" },
			"blank":   func(m map[string]string) { m[name] = " \t\n" },
		} {
			t.Run(name+"/"+label, func(t *testing.T) {
				e := validEvent()
				mutate(e.Attributes)
				requireFieldError(t, testGates().Normalize(e), "attributes."+name, RuleRequired)
			})
		}
	}
}

func TestNormalizeNilAttributes(t *testing.T) {
	e := &Event{ID: "d", Type: EventStarted}
	requireFieldError(t, Gates{}.Normalize(e), "attributes.service.name", RuleRequired)
	assert.NotNil(t, e.Attributes)
}

func TestNormalizeType(t *testing.T) {
	e := validEvent()
	e.Type = ""
	requireFieldError(t, testGates().Normalize(e), "type", RuleRequired)

	for _, bad := range []EventType{"deployed", "Started", " started", "STARTED", "rolledback", "rolled-back"} {
		e := validEvent()
		e.Type = bad
		fe := requireFieldError(t, testGates().Normalize(e), "type", RuleEnum)
		assert.Contains(t, fe.Message, "started, progressed, succeeded, failed, rolled_back")
	}
	for _, good := range []EventType{EventStarted, EventProgressed, EventSucceeded, EventFailed, EventRolledBack, EventRemoved} {
		e := validEvent()
		e.Type = good
		require.NoError(t, testGates().Normalize(e), good)
		assert.Equal(t, good, e.Type)
	}
	// The type is checked before the attributes.
	e = &Event{ID: "d", Type: "bogus"}
	requireFieldError(t, testGates().Normalize(e), "type", RuleEnum)
}

func TestNormalizeID(t *testing.T) {
	e := validEvent()
	e.ID = "  deploy-9 \n"
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, "deploy-9", e.ID)

	e = validEvent()
	e.ID = " "
	requireFieldError(t, testGates().Normalize(e), "id", RuleRequired)

	// deployment.id stands in for a missing id.
	e = validEvent()
	e.ID = ""
	e.Attributes[AttrDeploymentID] = " rollout-77 "
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, "rollout-77", e.ID)
	assert.Equal(t, "rollout-77", e.Attributes[AttrDeploymentID])

	e = validEvent()
	e.ID = strings.Repeat("i", 256)
	require.NoError(t, testGates().Normalize(e))
	e = validEvent()
	e.ID = strings.Repeat("i", 257)
	requireFieldError(t, testGates().Normalize(e), "id", RuleTooLong)
}

func TestNormalizeEnvironmentAliases(t *testing.T) {
	for in, want := range map[string]string{
		"prod":        "production",
		"PROD":        "production",
		" Prod ":      "production",
		"prd":         "production",
		"live":        "production",
		"production":  "production",
		"Production":  "production",
		"stg":         "staging",
		"stage":       "staging",
		"dev":         "development",
		"develop":     "development",
		"qa":          "test",
		"testing":     "test",
		"eu-canary-1": "eu-canary-1",
		"Preview":     "preview",
	} {
		e := validEvent()
		e.Attributes[AttrDeploymentEnvironment] = in
		require.NoError(t, testGates().Normalize(e), in)
		assert.Equal(t, want, e.Attr(AttrDeploymentEnvironment), "environment %q", in)
	}

	custom := Gates{EnvironmentAliases: map[string]string{"prod-eu": "production", "perf": "Load-Test"}}
	for in, want := range map[string]string{
		"PROD-EU": "production",
		"perf":    "Load-Test", // the canonical value is used as configured
		"prod":    "prod",      // defaults do not apply when aliases are configured
		"Staging": "staging",
	} {
		e := validEvent()
		e.Attributes[AttrDeploymentEnvironment] = in
		require.NoError(t, custom.Normalize(e), in)
		assert.Equal(t, want, e.Attr(AttrDeploymentEnvironment), "environment %q", in)
	}

	// Without aliases the name is only lower-cased.
	e := validEvent()
	e.Attributes[AttrDeploymentEnvironment] = "PROD"
	require.NoError(t, Gates{}.Normalize(e))
	assert.Equal(t, "prod", e.Attr(AttrDeploymentEnvironment))
}

func TestDefaultEnvironmentAliasesIsACopy(t *testing.T) {
	a := DefaultEnvironmentAliases()
	a["prod"] = "mutated"
	assert.Equal(t, "production", DefaultEnvironmentAliases()["prod"])
	for k, v := range DefaultEnvironmentAliases() {
		assert.Equal(t, strings.ToLower(k), k, "alias keys are lower case")
		assert.Contains(t, []string{"production", "staging", "development", "test"}, v)
	}
}

func TestNormalizeDeprecatedAttributes(t *testing.T) {
	e := validEvent()
	delete(e.Attributes, AttrDeploymentEnvironment)
	e.Attributes["deployment.environment"] = "prod"
	e.Attributes["vcs.repository.ref.revision"] = "9f2c1e7"
	e.Attributes["vcs.repository.change.id"] = "PR-12"
	e.Attributes["feature_flag.variant"] = "on"
	e.Attributes["feature_flag.provider_name"] = "flagd"
	e.Attributes["vcs.repository.ref.name"] = "main"
	e.Attributes["vcs.repository.url"] = "https://github.com/acme/checkout"
	e.Attributes["cicd.pipeline.run.identifier"] = "8812"
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, map[string]string{
		AttrServiceName:              "checkout",
		AttrServiceVersion:           "v1.4.2",
		AttrDeploymentEnvironment:    "production",
		AttrVCSRevision:              "9f2c1e7",
		AttrVCSChangeID:              "PR-12",
		AttrFeatureFlagVariant:       "on",
		"feature_flag.provider.name": "flagd",
		AttrVCSRefName:               "main",
		AttrVCSRepositoryURL:         "https://github.com/acme/checkout",
		AttrCICDPipelineRunID:        "8812",
	}, e.Attributes)

	// The current name wins when both are present; the old one is dropped.
	e = validEvent()
	e.Attributes[AttrDeploymentEnvironment] = "staging"
	e.Attributes["deployment.environment"] = "production"
	e.Attributes[AttrVCSRevision] = "new"
	e.Attributes["vcs.repository.ref.revision"] = "old"
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, "staging", e.Attr(AttrDeploymentEnvironment))
	assert.Equal(t, "new", e.Attr(AttrVCSRevision))
	for old := range DeprecatedAttributes {
		_, has := e.Attributes[old]
		assert.False(t, has, old)
	}

	for old, current := range DeprecatedAttributes {
		assert.NotEqual(t, old, current)
		_, chained := DeprecatedAttributes[current]
		assert.False(t, chained, "%s maps to another deprecated name", old)
	}
}

func TestNormalizeTrimsAndDropsEmptyAttributes(t *testing.T) {
	e := validEvent()
	e.Attributes[AttrServiceName] = "  checkout\t"
	e.Attributes[AttrServiceNamespace] = "   "
	e.Attributes[AttrVCSRevision] = ""
	e.Attributes[AttrCICDPipelineRunID] = "\n8812\n"
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, map[string]string{
		AttrServiceName:           "checkout",
		AttrServiceVersion:        "v1.4.2",
		AttrDeploymentEnvironment: "production",
		AttrCICDPipelineRunID:     "8812",
	}, e.Attributes)
}

func TestNormalizeTime(t *testing.T) {
	g := testGates()

	// Missing time: the receive time.
	e := validEvent()
	require.NoError(t, g.Normalize(e))
	assert.Equal(t, testReceivedAt, e.Time)

	// Missing receive time: now.
	e = validEvent()
	e.ReceivedAt = time.Time{}
	before := time.Now()
	require.NoError(t, g.Normalize(e))
	assert.False(t, e.ReceivedAt.Before(before.Add(-time.Second)), "received %s", e.ReceivedAt)
	assert.False(t, e.ReceivedAt.After(time.Now().Add(time.Second)))
	assert.Equal(t, time.UTC, e.ReceivedAt.Location())
	assert.Equal(t, e.ReceivedAt, e.Time)

	// Within the skew, exactly at the skew, and in the past: accepted, in UTC.
	for _, d := range []time.Duration{-24 * time.Hour, 0, time.Minute, 5 * time.Minute} {
		e = validEvent()
		e.Time = testReceivedAt.Add(d).In(time.FixedZone("x", 3600))
		require.NoError(t, g.Normalize(e), d)
		assert.Equal(t, testReceivedAt.Add(d), e.Time)
		assert.Equal(t, time.UTC, e.Time.Location())
	}

	// Beyond the skew: rejected.
	for _, d := range []time.Duration{5*time.Minute + time.Nanosecond, time.Hour, 100 * 365 * 24 * time.Hour} {
		e = validEvent()
		e.Time = testReceivedAt.Add(d)
		requireFieldError(t, g.Normalize(e), "time", RuleFuture)
	}

	// No skew configured: any future time passes.
	e = validEvent()
	e.Time = testReceivedAt.Add(1000 * time.Hour)
	require.NoError(t, Gates{}.Normalize(e))
	assert.Equal(t, testReceivedAt.Add(1000*time.Hour), e.Time)
}

func TestNormalizeStrategy(t *testing.T) {
	for in, want := range map[Strategy]Strategy{
		"canary":         StrategyCanary,
		"Canary":         StrategyCanary,
		" canary ":       StrategyCanary,
		"blue-green":     StrategyBlueGreen,
		"blue_green":     StrategyBlueGreen,
		"BlueGreen":      StrategyBlueGreen,
		"rolling":        StrategyRolling,
		"RollingUpdate":  StrategyRolling,
		"rolling_update": StrategyRolling,
		"recreate":       StrategyAllAtOnce,
		"Recreate":       StrategyAllAtOnce,
		"all-at-once":    StrategyAllAtOnce,
		"all_at_once":    StrategyAllAtOnce,
		"big_bang":       StrategyAllAtOnce,
		"":               "",
	} {
		e := validEvent()
		e.Release.Strategy = in
		require.NoError(t, testGates().Normalize(e), in)
		assert.Equal(t, want, e.Release.Strategy, "strategy %q", in)
	}
	for _, bad := range []Strategy{"yolo", "blue green", "shadow", "a/b"} {
		e := validEvent()
		e.Release.Strategy = bad
		fe := requireFieldError(t, testGates().Normalize(e), "release.strategy", RuleEnum)
		assert.Contains(t, fe.Message, string(bad))
	}
}

func TestNormalizeRolloutPercentage(t *testing.T) {
	for _, ok := range []float64{0, 0.5, 10, 99.999, 100} {
		e := validEvent()
		e.Release.RolloutPercentage = ptr(ok)
		require.NoError(t, testGates().Normalize(e), ok)
		assert.Equal(t, ok, *e.Release.RolloutPercentage)
	}
	for _, bad := range []float64{-0.001, -1, 100.0001, 1000, math.Inf(1), math.Inf(-1), math.NaN()} {
		e := validEvent()
		e.Release.RolloutPercentage = ptr(bad)
		requireFieldError(t, testGates().Normalize(e), "release.rollout_percentage", RuleRange)
	}
}

func TestNormalizeRisk(t *testing.T) {
	for in, want := range map[string]string{
		"low": "low", "medium": "medium", "high": "high", "critical": "critical",
		"HIGH": "high", " Critical ": "critical", "": "",
	} {
		e := validEvent()
		e.Release.Risk = in
		require.NoError(t, testGates().Normalize(e), in)
		assert.Equal(t, want, e.Release.Risk)
	}
	for _, bad := range []string{"extreme", "med", "1", "none"} {
		e := validEvent()
		e.Release.Risk = bad
		requireFieldError(t, testGates().Normalize(e), "release.risk", RuleEnum)
	}
}

func TestNormalizeFeatureFlags(t *testing.T) {
	e := validEvent()
	e.Release.FeatureFlags = []FeatureFlag{{Key: " new-pricing ", Variant: " on "}, {Key: "dark-mode"}}
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, []FeatureFlag{{Key: "new-pricing", Variant: "on"}, {Key: "dark-mode"}}, e.Release.FeatureFlags)

	e = validEvent()
	e.Release.FeatureFlags = []FeatureFlag{{Key: "a"}, {Key: "  ", Variant: "on"}}
	requireFieldError(t, testGates().Normalize(e), "release.feature_flags[1].key", RuleRequired)

	e = validEvent()
	e.Release.FeatureFlags = []FeatureFlag{{Key: "a", Variant: strings.Repeat("v", maxValueLength+1)}}
	requireFieldError(t, testGates().Normalize(e), "release.feature_flags[0]", RuleTooLong)

	e = validEvent()
	e.Release.FeatureFlags = make([]FeatureFlag, maxFeatureFlags+1)
	for i := range e.Release.FeatureFlags {
		e.Release.FeatureFlags[i].Key = "f"
	}
	requireFieldError(t, testGates().Normalize(e), "release.feature_flags", RuleRange)

	e.Release.FeatureFlags = e.Release.FeatureFlags[:maxFeatureFlags]
	require.NoError(t, testGates().Normalize(e))
}

func TestNormalizeScope(t *testing.T) {
	e := validEvent()
	e.Release.Scope = map[string]string{"k8s.cluster.name": "eu-1", "cloud.region": "   ", "a=b": ""}
	// '=' in a key is rejected even when the value is blank.
	requireFieldError(t, testGates().Normalize(e), "release.scope.a=b", RuleFormat)

	e = validEvent()
	e.Release.Scope = map[string]string{"k8s.cluster.name": "eu-1", "cloud.region": "   ", "k8s.namespace.name": ""}
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, map[string]string{"k8s.cluster.name": "eu-1"}, e.Release.Scope)
	assert.Equal(t, "k8s.cluster.name=eu-1", e.Key().Scope)

	for _, scope := range []map[string]string{
		{"a,b": "x"},
		{"a=b": "x"},
		{"k8s.cluster.name": "eu-1,eu-2"},
	} {
		e := validEvent()
		e.Release.Scope = scope
		var key string
		for k := range scope {
			key = k
		}
		requireFieldError(t, testGates().Normalize(e), "release.scope."+key, RuleFormat)
	}

	// '=' in a value is allowed: CanonicalScope splits on the first '='.
	e = validEvent()
	e.Release.Scope = map[string]string{"label": "tier=web"}
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, map[string]string{"label": "tier=web"}, ParseScope(e.Key().Scope))

	e = validEvent()
	e.Release.Scope = map[string]string{}
	for i := 0; i <= maxScopeAttributes; i++ {
		e.Release.Scope[string(rune('a'+i))] = "v"
	}
	requireFieldError(t, testGates().Normalize(e), "release.scope", RuleRange)
}

func TestNormalizeLengthLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }

	e := validEvent()
	e.Attributes[AttrVCSRepositoryURL] = long(maxValueLength)
	require.NoError(t, testGates().Normalize(e))

	e = validEvent()
	e.Attributes[AttrVCSRepositoryURL] = "  " + long(maxValueLength) + "  " // measured after trimming
	require.NoError(t, testGates().Normalize(e))
	assert.Len(t, e.Attr(AttrVCSRepositoryURL), maxValueLength)

	e = validEvent()
	e.Attributes[AttrVCSRepositoryURL] = long(maxValueLength + 1)
	requireFieldError(t, testGates().Normalize(e), "attributes.vcs.repository.url.full", RuleTooLong)

	e = validEvent()
	for i := 0; len(e.Attributes) <= maxAttributes; i++ {
		e.Attributes["x."+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = "v"
	}
	requireFieldError(t, testGates().Normalize(e), "attributes", RuleRange)

	e = validEvent()
	e.Release.PreviousVersion = long(maxValueLength + 1)
	requireFieldError(t, testGates().Normalize(e), "release.previous_version", RuleTooLong)

	e = validEvent()
	e.Release.Intent = long(maxTextLength)
	e.Release.Owner = long(maxTextLength)
	require.NoError(t, testGates().Normalize(e))

	e = validEvent()
	e.Release.Intent = long(maxTextLength + 1)
	requireFieldError(t, testGates().Normalize(e), "release.intent", RuleTooLong)

	e = validEvent()
	e.Release.Owner = long(maxTextLength + 1)
	requireFieldError(t, testGates().Normalize(e), "release.owner", RuleTooLong)
}

func TestNormalizeTrimsContext(t *testing.T) {
	e := validEvent()
	e.Release = Context{PreviousVersion: " v1.4.1 ", Intent: "\tmove pricing\n", Owner: " team-payments "}
	require.NoError(t, testGates().Normalize(e))
	assert.Equal(t, Context{PreviousVersion: "v1.4.1", Intent: "move pricing", Owner: "team-payments"}, e.Release)
}

func TestNormalizeIsIdempotent(t *testing.T) {
	events, err := DecodeNative(readTestdata(t, "batch.json"))
	require.NoError(t, err)
	for i := range events {
		events[i].ReceivedAt = testReceivedAt.Add(time.Hour)
		require.NoError(t, testGates().Normalize(&events[i]))
		once := events[i]
		once.Attributes = copyMap(events[i].Attributes)
		require.NoError(t, testGates().Normalize(&events[i]))
		assert.Equal(t, once, events[i])
	}
}

func TestDedupeKey(t *testing.T) {
	a, b := validEvent(), validEvent()
	assert.Equal(t, a.DedupeKey(), b.DedupeKey(), "same source, id and type")
	assert.Equal(t, "native\x00deploy-1\x00started", a.DedupeKey())

	b.Attributes[AttrServiceVersion] = "v9"
	b.Time = testReceivedAt.Add(time.Minute)
	assert.Equal(t, a.DedupeKey(), b.DedupeKey(), "content does not change the delivery identity")

	b = validEvent()
	b.Type = EventSucceeded
	assert.NotEqual(t, a.DedupeKey(), b.DedupeKey(), "different type")

	b = validEvent()
	b.ID = "deploy-2"
	assert.NotEqual(t, a.DedupeKey(), b.DedupeKey(), "different id")

	b = validEvent()
	b.Source = "github"
	assert.NotEqual(t, a.DedupeKey(), b.DedupeKey(), "different source")

	// No separator ambiguity between id and type.
	x, y := validEvent(), validEvent()
	x.ID, x.Type = "a", "bc"
	y.ID, y.Type = "ab", "c"
	assert.NotEqual(t, x.DedupeKey(), y.DedupeKey())

	p10, p50, p10b := validEvent(), validEvent(), validEvent()
	for _, e := range []*Event{p10, p50, p10b} {
		e.Type = EventProgressed
	}
	p10.Release.RolloutPercentage = ptr(10.0)
	p50.Release.RolloutPercentage = ptr(50.0)
	p10b.Release.RolloutPercentage = ptr(10.0)
	assert.NotEqual(t, p10.DedupeKey(), p50.DedupeKey(), "progressed at different percentages")
	assert.Equal(t, p10.DedupeKey(), p10b.DedupeKey(), "progressed at the same percentage")
	assert.Equal(t, "native\x00deploy-1\x00progressed\x0010", p10.DedupeKey())

	// For other types the percentage is not part of the key.
	s10, s50 := validEvent(), validEvent()
	s10.Release.RolloutPercentage = ptr(10.0)
	s50.Release.RolloutPercentage = ptr(50.0)
	assert.Equal(t, s10.DedupeKey(), s50.DedupeKey())
}

func TestDeploymentID(t *testing.T) {
	e := validEvent()
	assert.Equal(t, "deploy-1", e.DeploymentID())
	e.Attributes[AttrDeploymentID] = "rollout-42"
	assert.Equal(t, "rollout-42", e.DeploymentID(), "the explicit deployment.id attribute wins")
	e.Attributes[AttrDeploymentID] = ""
	assert.Equal(t, "deploy-1", e.DeploymentID())
	assert.Equal(t, "", (&Event{}).DeploymentID())
}

func TestAttr(t *testing.T) {
	e := validEvent()
	assert.Equal(t, "checkout", e.Attr(AttrServiceName))
	assert.Equal(t, "", e.Attr("missing"))
	assert.Equal(t, "", (&Event{}).Attr(AttrServiceName))
}

func TestNormalizeVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.4.2":                 "1.4.2",
		"V1.4.2":                 "1.4.2",
		"1.4.2":                  "1.4.2",
		" 1.4.2+build7 ":         "1.4.2",
		"v1.4.2+b7":              "1.4.2",
		"1.4.2-rc.1":             "1.4.2-rc.1",
		"vanilla":                "vanilla",
		"v":                      "v",
		"v.1":                    "v.1",
		"":                       "",
		"   ":                    "",
		"+build":                 "+build",
		"sha256:9f2c1e7abc":      "sha256:9f2c1e7abc",
		"9f2c1e7":                "9f2c1e7",
		"vv1":                    "vv1",
		"release-2026.11.24":     "release-2026.11.24",
		"v2026.11.24+gitsha.abc": "2026.11.24",
	} {
		assert.Equal(t, want, NormalizeVersion(in), "NormalizeVersion(%q)", in)
	}
	assert.Equal(t, NormalizeVersion("v1.4.2"), NormalizeVersion("1.4.2"))
	assert.Equal(t, NormalizeVersion("1.4.2"), NormalizeVersion(" 1.4.2+build7 "))
	assert.NotEqual(t, NormalizeVersion("1.4.2"), NormalizeVersion("1.4.3"))
	// Idempotent.
	for _, in := range []string{"v1.4.2", " 1.4.2+build7 ", "vanilla", "vv1"} {
		once := NormalizeVersion(in)
		assert.Equal(t, once, NormalizeVersion(once), in)
	}
}

func TestFieldError(t *testing.T) {
	fe := Fieldf("release.risk", RuleEnum, "%q is not a risk level", "x")
	assert.Equal(t, &FieldError{Field: "release.risk", Rule: "enum", Message: `"x" is not a risk level`}, fe)
	assert.Equal(t, `release.risk: "x" is not a risk level`, fe.Error())

	wrapped := wrapErr{fe}
	got, ok := AsFieldError(wrapped)
	require.True(t, ok)
	assert.Same(t, fe, got)

	_, ok = AsFieldError(assert.AnError)
	assert.False(t, ok)
	_, ok = AsFieldError(nil)
	assert.False(t, ok)
}

type wrapErr struct{ err error }

func (w wrapErr) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapErr) Unwrap() error { return w.err }

func TestNormalizeRegressions(t *testing.T) {
	g := Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
	base := func() *Event {
		return &Event{Type: EventStarted, ReceivedAt: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Attributes: map[string]string{
			AttrServiceName: "checkout", AttrServiceVersion: "v1", AttrDeploymentEnvironment: "production",
		}}
	}
	cases := []struct {
		name        string
		mutate      func(*Event)
		field, rule string
	}{
		{"year before 1970", func(e *Event) { e.ID = "d"; e.Time = time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)) }, "time", RuleRange},
		{"id filled from a long deployment.id", func(e *Event) { e.Attributes[AttrDeploymentID] = strings.Repeat("a", 1000) }, "id", RuleTooLong},
		{"long deployment.id next to an id", func(e *Event) { e.ID = "d"; e.Attributes[AttrDeploymentID] = strings.Repeat("a", 300) }, "attributes.deployment.id", RuleTooLong},
		{"environment longer after lower-casing", func(e *Event) { e.ID = "d"; e.Attributes[AttrDeploymentEnvironment] = strings.Repeat("Ⱥ", 512) }, "attributes.deployment.environment.name", RuleTooLong},
		{"long attribute key", func(e *Event) { e.ID = "d"; e.Attributes[strings.Repeat("k", 300)] = "v" }, "attributes", RuleTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.mutate(e)
			err := g.Normalize(e)
			fe, ok := AsFieldError(err)
			if !ok {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != tc.field || fe.Rule != tc.rule {
				t.Fatalf("got %s/%s, want %s/%s", fe.Field, fe.Rule, tc.field, tc.rule)
			}
		})
	}

	t.Run("blank risk and strategy are absent; scope values trimmed; current name wins only when set", func(t *testing.T) {
		e := base()
		e.ID = "d"
		e.Release.Risk, e.Release.Strategy = "  ", " "
		e.Release.Scope = map[string]string{"k8s.cluster.name": " eu-1 "}
		e.Attributes[AttrDeploymentEnvironment] = " "
		e.Attributes["deployment.environment"] = "prod"
		if err := g.Normalize(e); err != nil {
			t.Fatal(err)
		}
		if e.Release.Risk != "" || e.Release.Strategy != "" || e.Release.Scope["k8s.cluster.name"] != "eu-1" ||
			e.Attributes[AttrDeploymentEnvironment] != "production" {
			t.Fatalf("unexpected normalisation: %+v %+v", e.Release, e.Attributes)
		}
	})
}

func TestRemovalNeedsNoVersion(t *testing.T) {
	g := Gates{EnvironmentAliases: DefaultEnvironmentAliases()}
	e := &Event{ID: "r1", Type: EventRemoved, Attributes: map[string]string{AttrServiceName: "checkout", AttrDeploymentEnvironment: "prod"}}
	if err := g.Normalize(e); err != nil {
		t.Fatalf("a removal without a version must be accepted: %v", err)
	}
	e = &Event{ID: "s1", Type: EventStarted, Attributes: map[string]string{AttrServiceName: "checkout", AttrDeploymentEnvironment: "prod"}}
	if fe, ok := AsFieldError(g.Normalize(e)); !ok || fe.Field != "attributes.service.version" {
		t.Fatalf("a start without a version must be rejected, got %v", fe)
	}
}
