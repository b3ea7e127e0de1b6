package release

import (
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var knownRules = map[string]bool{
	RuleRequired: true, RuleSyntax: true, RuleType: true, RuleEnum: true, RuleRange: true,
	RuleFuture: true, RuleFormat: true, RuleTooLong: true, RuleUnmapped: true, RuleForbidden: true,
}

var fuzzReceivedAt = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func fuzzGates() Gates {
	return Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
}

// checkFieldError fails unless err is a FieldError that names a field and a
// known rule.
func checkFieldError(t *testing.T, err error) {
	t.Helper()
	fe, ok := AsFieldError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	if fe.Message == "" || !knownRules[fe.Rule] {
		t.Fatalf("incomplete FieldError %+v", fe)
	}
	if fe.Field == "" || (strings.HasPrefix(fe.Field, "[") && strings.HasSuffix(fe.Field, "].")) {
		t.Fatalf("FieldError without a field: %+v", fe)
	}
}

// nativeReencode renders an event back into the native document.
func nativeReencode(t *testing.T, ev Event) []byte {
	t.Helper()
	doc := map[string]any{
		"id":         ev.ID,
		"type":       string(ev.Type),
		"attributes": ev.Attributes,
		"release":    ev.Release,
	}
	if !ev.Time.IsZero() {
		doc["time"] = ev.Time.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", ev, err)
	}
	return b
}

// checkNormalized asserts the invariants of an event Normalize accepted.
func checkNormalized(t *testing.T, g Gates, ev *Event) {
	t.Helper()
	if !ev.Type.valid() {
		t.Fatalf("normalized type %q is not valid", ev.Type)
	}
	for _, name := range []string{AttrServiceName, AttrServiceVersion, AttrDeploymentEnvironment} {
		v := ev.Attributes[name]
		if v == "" || v != strings.TrimSpace(v) {
			t.Fatalf("normalized %s = %q", name, v)
		}
	}
	if env := ev.Attributes[AttrDeploymentEnvironment]; env != strings.ToLower(env) {
		t.Fatalf("environment %q is not lower case", env)
	}
	if _, ok := g.EnvironmentAliases[ev.Attributes[AttrDeploymentEnvironment]]; ok {
		if g.EnvironmentAliases[ev.Attributes[AttrDeploymentEnvironment]] != ev.Attributes[AttrDeploymentEnvironment] {
			t.Fatalf("environment %q is still an alias", ev.Attributes[AttrDeploymentEnvironment])
		}
	}
	if ev.ID == "" || ev.ID != strings.TrimSpace(ev.ID) {
		t.Fatalf("normalized id %q", ev.ID)
	}
	if len(ev.Attributes) > maxAttributes {
		t.Fatalf("%d attributes", len(ev.Attributes))
	}
	for k, v := range ev.Attributes {
		if v == "" || v != strings.TrimSpace(v) || len(v) > maxValueLength {
			t.Fatalf("attribute %q = %q", k, v)
		}
		if _, deprecated := DeprecatedAttributes[k]; deprecated {
			t.Fatalf("deprecated attribute %q kept", k)
		}
	}
	if ev.Time.IsZero() || ev.ReceivedAt.IsZero() || ev.Time.Location() != time.UTC {
		t.Fatalf("time %v received %v", ev.Time, ev.ReceivedAt)
	}
	if g.MaxFutureSkew > 0 && ev.Time.Sub(ev.ReceivedAt) > g.MaxFutureSkew {
		t.Fatalf("time %v beyond skew of %v", ev.Time, ev.ReceivedAt)
	}
	c := ev.Release
	if c.Strategy != "" {
		switch c.Strategy {
		case StrategyCanary, StrategyBlueGreen, StrategyRolling, StrategyAllAtOnce:
		default:
			t.Fatalf("strategy %q", c.Strategy)
		}
	}
	if p := c.RolloutPercentage; p != nil && (math.IsNaN(*p) || *p < 0 || *p > 100) {
		t.Fatalf("rollout percentage %v", *p)
	}
	if c.Risk != "" && !contains(riskLevels, c.Risk) {
		t.Fatalf("risk %q", c.Risk)
	}
	for i, f := range c.FeatureFlags {
		if f.Key == "" {
			t.Fatalf("feature flag %d without key", i)
		}
	}
	if len(c.Scope) > 0 {
		if got := ParseScope(CanonicalScope(c.Scope)); len(got) != len(c.Scope) {
			t.Fatalf("scope %q does not round-trip: %q", c.Scope, got)
		} else {
			for k, v := range c.Scope {
				if got[k] != v {
					t.Fatalf("scope %q does not round-trip: %q", c.Scope, got)
				}
			}
		}
	}
	_ = ev.Key().String()
	_ = ev.DeploymentID()
	if ev.DedupeKey() != ev.DedupeKey() {
		t.Fatal("DedupeKey is not deterministic")
	}

	// Normalize is idempotent.
	again := *ev
	again.Attributes = copyMap(ev.Attributes)
	again.Release.Scope = copyMap(ev.Release.Scope)
	again.Release.FeatureFlags = append([]FeatureFlag(nil), ev.Release.FeatureFlags...)
	if err := g.Normalize(&again); err != nil {
		t.Fatalf("second Normalize of %+v: %v", ev, err)
	}
	a, _ := json.Marshal(ev)
	b, _ := json.Marshal(&again)
	if string(a) != string(b) {
		t.Fatalf("Normalize is not idempotent:\n%s\n%s", a, b)
	}
}

// addTestdataSeeds adds every sample document under testdata/native.
func addTestdataSeeds(f *testing.F) {
	err := filepath.WalkDir(filepath.Join("testdata", "native"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(b)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzDecodeNative(f *testing.F) {
	addTestdataSeeds(f)
	for _, s := range []string{
		`{"attributes":{"service.name":1e999}}`,
		`{"time":"0000-01-01T00:00:00+01:00","type":"started","id":"x","attributes":{"service.name":"a","service.version":"1","deployment.environment":"prod"}}`,
		`[{"id":"a"},{"id":"b"}]`,
		`{"release":{"scope":{"a":"b=c"},"feature_flags":[{"key":" "}]}}`,
		"{\"id\":\"\xff\"}",
		`null`,
		`[null]`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := DecodeNative(body)
		if err != nil {
			if events != nil {
				t.Fatalf("events %+v returned with error %v", events, err)
			}
			checkFieldError(t, err)
			return
		}
		if len(events) == 0 {
			t.Fatal("no events and no error")
		}
		g := fuzzGates()
		for i := range events {
			ev := &events[i]
			if ev.Source != "native" || ev.Attributes == nil {
				t.Fatalf("event %d: source %q attributes %v", i, ev.Source, ev.Attributes)
			}
			if !ev.ReceivedAt.IsZero() {
				t.Fatalf("event %d: ReceivedAt set by DecodeNative", i)
			}

			// Re-encoding the decoded fields gives back the same event.
			re := nativeReencode(t, *ev)
			back, err := DecodeNative(re)
			if err != nil {
				t.Fatalf("re-encoded event %s does not decode: %v", re, err)
			}
			if len(back) != 1 || !back[0].Time.Equal(ev.Time) {
				t.Fatalf("re-encoded event %s decodes to %+v", re, back)
			}
			x, _ := json.Marshal(back[0].Attributes)
			y, _ := json.Marshal(ev.Attributes)
			xr, _ := json.Marshal(back[0].Release)
			yr, _ := json.Marshal(ev.Release)
			if back[0].ID != ev.ID || back[0].Type != ev.Type || string(x) != string(y) || string(xr) != string(yr) {
				t.Fatalf("re-encoded event differs:\n%+v\n%+v", back[0], *ev)
			}

			ev.ReceivedAt = fuzzReceivedAt
			if err := g.Normalize(ev); err != nil {
				checkFieldError(t, err)
				continue
			}
			checkNormalized(t, g, ev)
			// Normalize keeps times within years 1970..9999, so every
			// accepted event can be persisted as JSON.
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("normalized event does not encode: %v", err)
			}
		}
	})
}

func FuzzNormalize(f *testing.F) {
	// id, type, service.name, service.version, deployment.environment.name,
	// deployment.environment (deprecated), strategy, risk, flag key,
	// scope key, scope value, rollout percentage, time offset in seconds.
	f.Add("deploy-4711", "started", "checkout", "v1.4.2", "production", "", "canary", "high", "new-pricing", "k8s.cluster.name", "eu-1", 10.0, int64(0))
	f.Add(" d ", "progressed", " checkout ", " 1.0 ", "PROD", "staging", "blue-green", "LOW", " f ", "a", "b=c", 50.5, int64(-3600))
	f.Add("", "rolled_back", "s", "1", "", "prd", "Recreate", "", "", "", "", -1.0, int64(301))
	f.Add("x", "deployed", "s", "1", "dev", "", "", "", "", "a=b", "c", 100.0, int64(300))
	f.Add("x", "", "", "", "", "", "", "", "", "", "", math.NaN(), int64(0))
	f.Add("x", "removed", "s", "1", "qa", "", "rollingupdate", "critical", "k", "a,b", " ", math.Inf(1), int64(math.MaxInt64))

	f.Fuzz(func(t *testing.T, id, typ, name, version, env, oldEnv, strategy, risk, flagKey, scopeKey, scopeValue string, pct float64, offsetSeconds int64) {
		ev := &Event{
			ID:         id,
			Type:       EventType(typ),
			ReceivedAt: fuzzReceivedAt,
			Source:     "native",
			Attributes: map[string]string{
				AttrServiceName:           name,
				AttrServiceVersion:        version,
				AttrDeploymentEnvironment: env,
			},
			Release: Context{Strategy: Strategy(strategy), Risk: risk},
		}
		if oldEnv != "" {
			ev.Attributes["deployment.environment"] = oldEnv
			if env == "" {
				delete(ev.Attributes, AttrDeploymentEnvironment)
			}
		}
		if id == "" {
			ev.Attributes[AttrDeploymentID] = flagKey
		}
		if flagKey != "" {
			ev.Release.FeatureFlags = []FeatureFlag{{Key: flagKey, Variant: risk}}
		}
		if scopeKey != "" || scopeValue != "" {
			ev.Release.Scope = map[string]string{scopeKey: scopeValue}
		}
		if pct != 0 {
			ev.Release.RolloutPercentage = &pct
		}
		if offsetSeconds != 0 {
			// Bounded so that the time stays a representable instant.
			ev.Time = fuzzReceivedAt.Add(time.Duration(offsetSeconds%(1<<32)) * time.Second)
		}

		g := fuzzGates()
		if err := g.Normalize(ev); err != nil {
			checkFieldError(t, err)
			return
		}
		checkNormalized(t, g, ev)
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("normalized event does not encode: %v", err)
		}
	})
}
