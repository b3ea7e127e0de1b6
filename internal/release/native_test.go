package release

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readTestdata returns a file under testdata/native.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "native", name))
	require.NoError(t, err)
	return b
}

// requireFieldError asserts that err is a *FieldError for field and rule.
func requireFieldError(t testing.TB, err error, field, rule string) *FieldError {
	t.Helper()
	require.Error(t, err)
	fe, ok := AsFieldError(err)
	require.Truef(t, ok, "error %v (%T) is not a *FieldError", err, err)
	assert.Equal(t, field, fe.Field, "field of %q", err.Error())
	assert.Equal(t, rule, fe.Rule, "rule of %q", err.Error())
	assert.NotEmpty(t, fe.Message)
	assert.Equal(t, fe.Field+": "+fe.Message, fe.Error())
	return fe
}

func ptr[T any](v T) *T { return &v }

func TestDecodeNativeProductExample(t *testing.T) {
	events, err := DecodeNative(readTestdata(t, "example.json"))
	require.NoError(t, err)
	require.Len(t, events, 1)
	ev := events[0]

	assert.Equal(t, "deploy-4711", ev.ID)
	assert.Equal(t, EventStarted, ev.Type)
	assert.True(t, ev.Time.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "time %s", ev.Time)
	assert.True(t, ev.ReceivedAt.IsZero(), "DecodeNative must leave ReceivedAt to the caller")
	assert.Equal(t, "native", ev.Source)
	assert.Equal(t, map[string]string{
		AttrServiceName:           "checkout",
		AttrServiceNamespace:      "shop",
		AttrServiceVersion:        "v1.4.2",
		AttrDeploymentEnvironment: "production",
		AttrVCSRevision:           "9f2c1e7",
		AttrVCSRepositoryURL:      "https://github.com/acme/checkout",
		AttrCICDPipelineRunID:     "8812",
	}, ev.Attributes)
	assert.Equal(t, Context{
		PreviousVersion:   "v1.4.1",
		Strategy:          StrategyCanary,
		RolloutPercentage: ptr(10.0),
		FeatureFlags:      []FeatureFlag{{Key: "new-pricing", Variant: "on"}},
		Intent:            "move cart pricing to the new engine",
		Risk:              "high",
		Owner:             "team-payments",
		Scope:             map[string]string{"k8s.cluster.name": "eu-1"},
	}, ev.Release)

	// The document is already normal: Normalize keeps every value.
	received := time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC)
	ev.ReceivedAt = received
	before := ev
	before.Attributes = copyMap(ev.Attributes)
	g := Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
	require.NoError(t, g.Normalize(&ev))
	assert.Equal(t, before.Attributes, ev.Attributes)
	assert.Equal(t, before.Release, ev.Release)
	assert.Equal(t, "deploy-4711", ev.ID)
	assert.Equal(t, received, ev.ReceivedAt)
	assert.Equal(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), ev.Time)
	assert.Equal(t, "deploy-4711", ev.DeploymentID())
	assert.Equal(t, Key{
		Service: ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"},
		Scope:   "k8s.cluster.name=eu-1",
	}, ev.Key())
	assert.Equal(t, "shop/checkout@production[k8s.cluster.name=eu-1]", ev.Key().String())
}

func TestDecodeNativeMinimal(t *testing.T) {
	events, err := DecodeNative(readTestdata(t, "minimal.json"))
	require.NoError(t, err)
	require.Len(t, events, 1)
	ev := events[0]
	assert.Equal(t, Event{
		ID:     "d-1",
		Type:   EventSucceeded,
		Source: "native",
		Attributes: map[string]string{
			AttrServiceName: "cart", AttrServiceVersion: "2.0.0", AttrDeploymentEnvironment: "staging",
		},
	}, ev)

	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev.ReceivedAt = received
	require.NoError(t, Gates{}.Normalize(&ev))
	assert.Equal(t, received, ev.Time, "a missing time is the receive time")
	assert.Equal(t, Context{}, ev.Release)
}

func TestDecodeNativeBatch(t *testing.T) {
	events, err := DecodeNative(readTestdata(t, "batch.json"))
	require.NoError(t, err)
	require.Len(t, events, 3)

	assert.Equal(t, []EventType{EventStarted, EventProgressed, EventRolledBack},
		[]EventType{events[0].Type, events[1].Type, events[2].Type})
	for i, ev := range events {
		assert.Equal(t, "deploy-4711", ev.ID, "event %d", i)
		assert.Equal(t, "native", ev.Source, "event %d", i)
	}
	assert.Equal(t, Strategy("blue-green"), events[0].Release.Strategy, "decode keeps the spelling; Normalize canonicalises")
	require.NotNil(t, events[0].Release.RolloutPercentage)
	assert.Equal(t, 0.0, *events[0].Release.RolloutPercentage)
	require.NotNil(t, events[1].Release.RolloutPercentage)
	assert.Equal(t, 50.5, *events[1].Release.RolloutPercentage)
	assert.Nil(t, events[2].Release.RolloutPercentage)

	// Offsets are kept at decode and dropped to UTC by Normalize.
	wantSecond := time.Date(2026, 11, 24, 9, 5, 0, 500_000_000, time.UTC)
	assert.True(t, events[1].Time.Equal(wantSecond), "time %s", events[1].Time)
	assert.True(t, events[2].Time.IsZero())

	// Numbers and booleans in attributes become strings, as written.
	assert.Equal(t, "8812", events[1].Attributes[AttrCICDPipelineRunID])
	assert.Equal(t, "true", events[1].Attributes[AttrDeploymentStatus])
	assert.Equal(t, "PROD", events[1].Attributes["deployment.environment"])

	received := time.Date(2026, 11, 24, 10, 10, 0, 0, time.UTC)
	g := Gates{MaxFutureSkew: time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
	for i := range events {
		events[i].ReceivedAt = received
		require.NoError(t, g.Normalize(&events[i]), "event %d", i)
		assert.Equal(t, "production", events[i].Attr(AttrDeploymentEnvironment), "event %d", i)
		assert.Equal(t, time.UTC, events[i].Time.Location(), "event %d", i)
	}
	assert.Equal(t, StrategyBlueGreen, events[0].Release.Strategy)
	assert.Equal(t, wantSecond, events[1].Time)
	assert.Equal(t, received, events[2].Time)
	_, stillDeprecated := events[1].Attributes["deployment.environment"]
	assert.False(t, stillDeprecated)
	// The three events are distinct deliveries of one deployment.
	keys := map[string]bool{}
	for _, ev := range events {
		keys[ev.DedupeKey()] = true
		assert.Equal(t, events[0].Key(), ev.Key())
	}
	assert.Len(t, keys, 3)
}

func TestDecodeNativeScalarAttributes(t *testing.T) {
	events, err := DecodeNative([]byte(`{"id":"d","type":"started","attributes":{
		"int": 42, "neg": -7, "float": 1.5, "exp": 1.50e3, "big": 12345678901234567890123,
		"t": true, "f": false, "s": "text", "empty": "", "null": null}}`))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, map[string]string{
		"int": "42", "neg": "-7", "float": "1.5", "exp": "1.50e3", "big": "12345678901234567890123",
		"t": "true", "f": "false", "s": "text", "empty": "", "null": "",
	}, events[0].Attributes)
}

func TestDecodeNativeRejectsNonScalarAttributes(t *testing.T) {
	for name, value := range map[string]string{
		"object":       `{"value": "checkout"}`,
		"array":        `["checkout"]`,
		"empty object": `{}`,
		"empty array":  `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			body := `{"id":"d","type":"started","attributes":{"ok":"1","service.name":` + value + `}}`
			events, err := DecodeNative([]byte(body))
			assert.Nil(t, events)
			requireFieldError(t, err, "attributes.service.name", RuleType)
		})
	}
}

func TestDecodeNativeErrors(t *testing.T) {
	tests := []struct {
		name, body, field, rule string
	}{
		{"empty", ``, "body", RuleRequired},
		{"whitespace", " \r\n\t ", "body", RuleRequired},
		{"empty array", `[]`, "body", RuleRequired},
		{"empty array with space", " [ \n ] ", "body", RuleRequired},
		{"truncated", `{"id":"d",`, "body", RuleSyntax},
		{"trailing comma", `{"id":"d",}`, "body", RuleSyntax},
		{"not json", `hello`, "body", RuleSyntax},
		{"trailing object", `{"id":"d"} {"id":"e"}`, "body", RuleSyntax},
		{"trailing garbage", `{"id":"d"} x`, "body", RuleSyntax},
		{"trailing after array", `[{"id":"d"}] x`, "body", RuleSyntax},
		{"truncated array", `[{"id":"d"}`, "body", RuleSyntax},
		{"string body", `"started"`, "body", RuleType},
		{"number body", `42`, "body", RuleType},
		{"unknown top-level field", `{"id":"d","service":"checkout"}`, "service", RuleUnmapped},
		{"id as number", `{"id":4711}`, "id", RuleType},
		{"type as number", `{"type":1}`, "type", RuleType},
		{"attributes as array", `{"attributes":["a"]}`, "attributes", RuleType},
		{"release as string", `{"release":"canary"}`, "release", RuleType},
		{"rollout_percentage as string", `{"release":{"rollout_percentage":"10"}}`, "release.rollout_percentage", RuleType},
		{"rollout_percentage as bool", `{"release":{"rollout_percentage":true}}`, "release.rollout_percentage", RuleType},
		{"rollout_percentage overflow", `{"release":{"rollout_percentage":1e400}}`, "release.rollout_percentage", RuleType},
		{"feature_flags as object", `{"release":{"feature_flags":{"key":"x"}}}`, "release.feature_flags", RuleType},
		{"risk as number", `{"release":{"risk":3}}`, "release.risk", RuleType},
		{"time without T", `{"time":"2026-11-24 10:00:00"}`, "time", RuleFormat},
		{"time without zone", `{"time":"2026-11-24T10:00:00"}`, "time", RuleFormat},
		{"time as date", `{"time":"2026-11-24"}`, "time", RuleFormat},
		{"time as text", `{"time":"yesterday"}`, "time", RuleFormat},
		{"time as number", `{"time":1795000000}`, "time", RuleType},
		{"attribute object", `{"attributes":{"k":{"a":1}}}`, "attributes.k", RuleType},
		{"batch element unknown field", `[{"id":"a"},{"id":"b","extra":1}]`, "[1].extra", RuleUnmapped},
		{"batch element bad time", `[{"id":"a"},{"id":"b"},{"time":"now"}]`, "[2].time", RuleFormat},
		{"batch element attribute object", `[{"attributes":{"k":{}}}]`, "[0].attributes.k", RuleType},
		{"batch element wrong type", `[{"release":{"rollout_percentage":"5"}}]`, "[0].release.rollout_percentage", RuleType},
		{"batch element not object", `[{"id":"a"}, 1]`, "[1].body", RuleType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := DecodeNative([]byte(tt.body))
			assert.Nil(t, events)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

// An unknown field inside "release" (or deeper) must be rejected and named.
func TestDecodeNativeUnknownNestedField(t *testing.T) {
	for body, name := range map[string]string{
		`{"id":"d","release":{"stratgey":"canary"}}`:                  "release.stratgey",
		`{"id":"d","release":{"feature_flags":[{"key":"a","on":1}]}}`: "release.feature_flags[0].on",
		`{"ID":"d"}`: "ID",
		`{"":1}`:     `""`,
	} {
		events, err := DecodeNative([]byte(body))
		assert.Nil(t, events)
		require.Error(t, err)
		fe, ok := AsFieldError(err)
		require.True(t, ok)
		assert.Equal(t, RuleUnmapped, fe.Rule, body)
		assert.Equal(t, name, fe.Field, body)
	}
}

func TestDecodeNativeTimeFormats(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-11-24T10:00:00Z":                time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T10:00:00.123456789Z":      time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC),
		"2026-11-24T12:00:00+02:00":           time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T05:30:00.5-04:30":         time.Date(2026, 11, 24, 10, 0, 0, 500_000_000, time.UTC),
		"2026-11-24T10:00:00.000000001Z":      time.Date(2026, 11, 24, 10, 0, 0, 1, time.UTC),
		"2026-11-24T10:00:00.100000000Z":      time.Date(2026, 11, 24, 10, 0, 0, 100_000_000, time.UTC),
		"2026-11-24T10:00:00.100000000+00:00": time.Date(2026, 11, 24, 10, 0, 0, 100_000_000, time.UTC),
	} {
		events, err := DecodeNative([]byte(`{"time":"` + in + `"}`))
		require.NoError(t, err, in)
		assert.True(t, events[0].Time.Equal(want), "%s decoded as %s", in, events[0].Time)
	}
	// An empty time is the same as no time.
	events, err := DecodeNative([]byte(`{"time":""}`))
	require.NoError(t, err)
	assert.True(t, events[0].Time.IsZero())
}

func TestDecodeNativeLeadingWhitespaceAndOrder(t *testing.T) {
	events, err := DecodeNative([]byte("\n\t [ {\"id\":\"b\"}, {\"id\":\"a\"}, {\"id\":\"c\"} ]\n"))
	require.NoError(t, err)
	require.Len(t, events, 3)
	assert.Equal(t, []string{"b", "a", "c"}, []string{events[0].ID, events[1].ID, events[2].ID})
	for _, ev := range events {
		assert.NotNil(t, ev.Attributes, "attributes map is always allocated")
	}
}

// invalidTestdata is the expected error for every file in testdata/native/invalid.
var invalidTestdata = map[string][2]string{
	"empty.json":                     {"body", RuleRequired},
	"whitespace.json":                {"body", RuleRequired},
	"empty_array.json":               {"body", RuleRequired},
	"truncated.json":                 {"body", RuleSyntax},
	"syntax.json":                    {"body", RuleSyntax},
	"trailing_data.json":             {"body", RuleSyntax},
	"unknown_field.json":             {"service", RuleUnmapped},
	"unknown_release_field.json":     {"", RuleUnmapped}, // field asserted by suffix below
	"attribute_object.json":          {"attributes.service.name", RuleType},
	"attribute_array.json":           {"attributes.service.name", RuleType},
	"rollout_percentage_string.json": {"release.rollout_percentage", RuleType},
	"id_number.json":                 {"id", RuleType},
	"time_format.json":               {"time", RuleFormat},
	"time_number.json":               {"time", RuleType},
	"not_object.json":                {"body", RuleType},
	"batch_unknown_field.json":       {"[1].extra", RuleUnmapped},
	"feature_flags_object.json":      {"release.feature_flags", RuleType},
}

func TestDecodeNativeInvalidTestdata(t *testing.T) {
	names := testdataNames(t, "invalid")
	assert.ElementsMatch(t, sortedMapKeys(invalidTestdata), names, "every invalid sample needs an expectation")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, ok := invalidTestdata[name]
			require.True(t, ok)
			events, err := DecodeNative(readTestdata(t, filepath.Join("invalid", name)))
			assert.Nil(t, events)
			if want[0] == "" {
				fe, ok := AsFieldError(err)
				require.True(t, ok, "%v", err)
				assert.Equal(t, want[1], fe.Rule)
				assert.Equal(t, "release.stratgey", fe.Field)
				return
			}
			requireFieldError(t, err, want[0], want[1])
		})
	}
}

// rejectedTestdata is the expected Normalize error for every file in
// testdata/native/rejected: documents that decode but break a content rule.
var rejectedTestdata = map[string][2]string{
	"missing_type.json":             {"type", RuleRequired},
	"bad_type.json":                 {"type", RuleEnum},
	"missing_service_name.json":     {"attributes.service.name", RuleRequired},
	"blank_service_version.json":    {"attributes.service.version", RuleRequired},
	"missing_environment.json":      {"attributes.deployment.environment.name", RuleRequired},
	"missing_id.json":               {"id", RuleRequired},
	"bad_strategy.json":             {"release.strategy", RuleEnum},
	"rollout_percentage_range.json": {"release.rollout_percentage", RuleRange},
	"bad_risk.json":                 {"release.risk", RuleEnum},
	"feature_flag_without_key.json": {"release.feature_flags[0].key", RuleRequired},
	"scope_comma.json":              {"release.scope.k8s.cluster.name", RuleFormat},
	"future_time.json":              {"time", RuleFuture},
}

func TestNormalizeRejectedTestdata(t *testing.T) {
	names := testdataNames(t, "rejected")
	assert.ElementsMatch(t, sortedMapKeys(rejectedTestdata), names, "every rejected sample needs an expectation")
	g := Gates{MaxFutureSkew: 5 * time.Minute, EnvironmentAliases: DefaultEnvironmentAliases()}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want := rejectedTestdata[name]
			events, err := DecodeNative(readTestdata(t, filepath.Join("rejected", name)))
			require.NoError(t, err)
			require.Len(t, events, 1)
			events[0].ReceivedAt = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			requireFieldError(t, g.Normalize(&events[0]), want[0], want[1])
		})
	}
}

func testdataNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "native", dir))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	require.NotEmpty(t, names)
	return names
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
