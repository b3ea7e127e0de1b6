package source

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// testReceivedAt is after every timestamp in testdata, so the gates accept
// the samples.
var testReceivedAt = time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)

func testGates() release.Gates {
	return release.Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: release.DefaultEnvironmentAliases()}
}

// readTestdata reads testdata/<path>.
func readTestdata(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	require.NoError(t, err)
	return b
}

// newDelivery builds a delivery from a body and header name/value pairs.
func newDelivery(body []byte, headers ...string) *Delivery {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	return &Delivery{Header: h, Body: body, ReceivedAt: testReceivedAt}
}

// lookupSource returns a registered source by name.
func lookupSource(t testing.TB, name string) Source {
	t.Helper()
	def, ok := Lookup(name)
	require.True(t, ok, "source %s is not registered", name)
	return def.New()
}

// mutateJSON decodes body, lets fn change it and encodes it again.
func mutateJSON(t testing.TB, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	fn(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// child returns the object under a path of keys.
func child(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// requireEvents checks parsed events against the expected ones: times are
// compared as instants, everything else exactly.
func requireEvents(t *testing.T, want, got []release.Event) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Truef(t, w.Time.Equal(g.Time), "event %d: time %s, want %s", i, g.Time, w.Time)
		w.Time, g.Time = time.Time{}, time.Time{}
		require.Equal(t, w, g, "event %d", i)
	}
}

// requireFieldError checks that err is a FieldError naming field and rule.
func requireFieldError(t *testing.T, err error, field, rule string) {
	t.Helper()
	require.Error(t, err)
	fe, ok := release.AsFieldError(err)
	require.Truef(t, ok, "want a FieldError, got %T: %v", err, err)
	require.Equal(t, field, fe.Field, "field of %q", fe.Error())
	require.Equal(t, rule, fe.Rule, "rule of %q", fe.Error())
	require.NotEmpty(t, fe.Message)
}

// requireIgnored checks that err is an *Ignored with a reason.
func requireIgnored(t *testing.T, err error) {
	t.Helper()
	var ig *Ignored
	require.Truef(t, errors.As(err, &ig), "want Ignored, got %v", err)
	require.NotEmpty(t, ig.Reason)
}

// requireUnauthorized checks that err wraps ErrUnauthorized.
func requireUnauthorized(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrUnauthorized)
}

// requireNormalized runs the events through the ingestion gates.
func requireNormalized(t *testing.T, events []release.Event) {
	t.Helper()
	for i := range events {
		require.NoError(t, testGates().Normalize(&events[i]), "event %d: %+v", i, events[i])
	}
}

func ptr[T any](v T) *T { return &v }

// addFuzzSeeds adds every JSON file of testdata/<dir> and of the real
// payload corpus testdata/corpus/<dir> as a seed.
func addFuzzSeeds(f *testing.F, dir string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, paths)
	real, err := filepath.Glob(filepath.Join("testdata", "corpus", dir, "*.json"))
	require.NoError(f, err)
	paths = append(paths, real...)
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
}

// checkFuzzDelivery authenticates and parses one fuzzed delivery and checks
// the contract: no panic, authentication errors wrap ErrUnauthorized, Parse
// returns events with Source set or a FieldError or an Ignored, and the gates
// do not panic on what Parse returns.
func checkFuzzDelivery(t *testing.T, name string, src Source, secret []byte, d *Delivery) {
	t.Helper()
	if err := src.Authenticate(d, secret); err != nil && !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Authenticate returned %v, which does not wrap ErrUnauthorized", err)
	}
	events, err := src.Parse(d)
	if err != nil {
		var ig *Ignored
		if _, ok := release.AsFieldError(err); !ok && !errors.As(err, &ig) {
			t.Fatalf("Parse returned %T %v; want a FieldError or Ignored", err, err)
		}
		if fe, ok := release.AsFieldError(err); ok && (fe.Field == "" || fe.Rule == "") {
			t.Fatalf("FieldError without field or rule: %+v", fe)
		}
		require.Empty(t, events)
		return
	}
	require.NotEmpty(t, events, "Parse returned neither events nor an error")
	for i := range events {
		require.Equal(t, name, events[i].Source)
		require.NotEmpty(t, events[i].ID)
		require.NotNil(t, events[i].Attributes)
		_ = testGates().Normalize(&events[i])
	}
}

func TestVendorDefinitions(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		media      []string
	}{
		{"github", "/v1/github", []string{"application/json", "application/x-www-form-urlencoded"}},
		{"gitlab", "/v1/gitlab", []string{"application/json"}},
		{"cdevents", "/v1/cdevents", []string{"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}},
		{"argocd", "/v1/argocd", []string{"application/json"}},
		{"flux", "/v1/flux", []string{"application/json"}},
	} {
		def, ok := Lookup(tt.name)
		require.True(t, ok, tt.name)
		require.Equal(t, tt.path, def.Path)
		require.Equal(t, tt.media, def.MediaTypes)
		require.NotNil(t, def.New())
	}
}
