package state

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the time of the first event of every scenario.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// checkout is the service most scenarios deploy.
var checkout = release.ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}

func testLimits() Limits {
	return Limits{
		MaxKeys: 100, MaxHistory: 20, MaxDecisions: 100, MaxDedupeEntries: 1000,
		DedupeWindow: 24 * time.Hour, MaxAnnotations: 10, MaxEventRefs: 10,
	}
}

// ev builds a native event of checkout in production. at is the offset of
// its time (and receive time) from t0.
func ev(id string, typ release.EventType, version string, at time.Duration, opts ...func(*release.Event)) *release.Event {
	e := &release.Event{
		ID: id, Type: typ, Time: t0.Add(at), ReceivedAt: t0.Add(at), Source: "native",
		Attributes: map[string]string{
			release.AttrServiceName:           checkout.Name,
			release.AttrServiceNamespace:      checkout.Namespace,
			release.AttrServiceVersion:        version,
			release.AttrDeploymentEnvironment: checkout.Environment,
		},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

func withPercent(p float64) func(*release.Event) {
	return func(e *release.Event) { e.Release.RolloutPercentage = &p }
}

func withStrategy(s release.Strategy) func(*release.Event) {
	return func(e *release.Event) { e.Release.Strategy = s }
}

func withScope(kv ...string) func(*release.Event) {
	return func(e *release.Event) {
		e.Release.Scope = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Release.Scope[kv[i]] = kv[i+1]
		}
	}
}

func withService(name string) func(*release.Event) {
	return func(e *release.Event) { e.Attributes[release.AttrServiceName] = name }
}

func withEnv(env string) func(*release.Event) {
	return func(e *release.Event) { e.Attributes[release.AttrDeploymentEnvironment] = env }
}

func withSource(src string) func(*release.Event) {
	return func(e *release.Event) { e.Source = src }
}

func withReceivedAt(at time.Duration) func(*release.Event) {
	return func(e *release.Event) { e.ReceivedAt = t0.Add(at) }
}

// apply applies events that must be fresh and consistent, as the store does.
func apply(t *testing.T, s *State, events ...*release.Event) Change {
	t.Helper()
	var ch Change
	for _, e := range events {
		if err := s.Check(e); err != nil {
			t.Fatalf("Check(%s %s): %v", e.ID, e.Type, err)
		}
		if s.Duplicate(e) {
			t.Fatalf("event %s %s is unexpectedly a duplicate", e.ID, e.Type)
		}
		ch = s.ApplyEvent(e)
	}
	return ch
}

// mustRelease returns a release that must exist.
func mustRelease(t *testing.T, s *State, id string) *release.Release {
	t.Helper()
	r, ok := s.Release(id)
	if !ok {
		t.Fatalf("release %q not found", id)
	}
	return r
}

// unscoped returns the view of checkout's unscoped key.
func unscoped(t *testing.T, s *State) KeyView {
	t.Helper()
	v := s.ServiceView(checkout)
	if v == nil {
		t.Fatal("no view for checkout")
	}
	for _, k := range v.Keys {
		if len(k.Scope) == 0 {
			return k
		}
	}
	t.Fatal("checkout has no unscoped key")
	return KeyView{}
}

func at(d time.Duration) *time.Time {
	v := t0.Add(d)
	return &v
}

func pct(p float64) *float64 { return &p }

func ids(rs []*release.Release) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func statuses(rs []*release.Release) []release.Status {
	out := make([]release.Status, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

// id of a view's release, "" for nil, to compare views compactly.
func idOf(r *release.Release) string {
	if r == nil {
		return ""
	}
	return r.ID
}
