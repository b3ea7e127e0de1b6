package releasemetadatareceiver

import (
	"github.com/otelcol-release/otelcol-release/internal/testhost"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/source"
)

// testNow is the receive time in tests: shortly after the events' times.
var testNow = time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC)

func freeAddr(t testing.TB) string { return testhost.FreeEndpoint(t) }

// harness runs a receiver in front of a real, in-memory release store.
type harness struct {
	url   string
	sink  *consumertest.LogsSink
	store releasestoreextension.Store
	tel   *componenttest.Telemetry
}

func startHarness(t testing.TB, mutate func(*Config), st releasestoreextension.Store) *harness {
	t.Helper()
	ctx := context.Background()
	exts := map[component.ID]component.Component{}
	if st == nil {
		sf := releasestoreextension.NewFactory()
		scfg := sf.CreateDefaultConfig().(*releasestoreextension.Config)
		scfg.NetAddr.Endpoint = freeAddr(t)
		ext, err := sf.Create(ctx, extensiontest.NewNopSettings(sf.Type()), scfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
		st = ext.(releasestoreextension.Store)
		exts[component.NewID(sf.Type())] = ext
	} else {
		exts[component.MustNewID("releasestore")] = st.(component.Component)
	}

	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = freeAddr(t)
	if mutate != nil {
		mutate(cfg)
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })
	set := receivertest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := &consumertest.LogsSink{}
	rcv, err := NewFactory().CreateLogs(ctx, set, cfg, sink)
	require.NoError(t, err)
	rcv.(*metadataReceiver).now = func() time.Time { return testNow }
	require.NoError(t, rcv.Start(ctx, testhost.New(exts)))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(ctx)) })
	return &harness{url: "http://" + cfg.NetAddr.Endpoint, sink: sink, store: st, tel: tel}
}

type answer struct {
	code int
	body map[string]any
}

func (h *harness) post(t testing.TB, path, contentType string, body []byte, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{code: resp.StatusCode}
	require.NoError(t, json.Unmarshal(raw, &a.body), "reply is JSON: %s", raw)
	return a
}

func nativeEvent(id, typ, version string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"type":%q,"time":"2026-11-24T10:00:00Z",
	  "attributes":{"service.name":"checkout","service.namespace":"shop","service.version":%q,
	    "deployment.environment.name":"prod","vcs.ref.head.revision":"9f2c1e7"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":10,
	    "feature_flags":[{"key":"new-pricing","variant":"on"}],"intent":"move cart pricing","risk":"high","owner":"team-payments"}}`,
		id, typ, version))
}

func TestAcceptedEventIsStoredAndEmitted(t *testing.T) {
	h := startHarness(t, nil, nil)
	a := h.post(t, "/v1/events", "application/json", nativeEvent("deploy-4711", "started", "v1.4.2"), nil)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	assert.Equal(t, "accepted", a.body["status"])
	assert.Equal(t, []any{map[string]any{"id": "deploy-4711", "deployment_id": "deploy-4711", "outcome": "accepted", "status": "in_progress"}}, a.body["events"])

	rel, ok := h.store.Release("deploy-4711")
	require.True(t, ok)
	assert.Equal(t, "production", rel.Attributes[release.AttrDeploymentEnvironment], "alias prod resolved")
	assert.Equal(t, release.StatusInProgress, rel.Status)

	require.Equal(t, 1, h.sink.LogRecordCount())
	rl := h.sink.AllLogs()[0].ResourceLogs().At(0)
	res := rl.Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{
		"service.name": "checkout", "service.namespace": "shop", "service.version": "v1.4.2",
		"deployment.environment.name": "production",
	}, res)
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, release.EventNameDeployment, lr.EventName())
	assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
	assert.Equal(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), lr.Timestamp().AsTime())
	attrs := lr.Attributes().AsRaw()
	delete(attrs, release.AttrReleaseReceivedAt)
	assert.Equal(t, map[string]any{
		"deployment.id": "deploy-4711", "vcs.ref.head.revision": "9f2c1e7",
		"release.event.type": "started", "release.event.id": "deploy-4711", "release.source": "native",
		"release.status": "in_progress", "release.previous_version": "v1.4.1", "release.strategy": "canary",
		"release.rollout.percentage": 10.0, "release.intent": "move cart pricing", "release.risk": "high",
		"release.owner": "team-payments", "release.feature_flags": []any{"new-pricing=on"},
		"feature_flag.key": "new-pricing", "feature_flag.result.variant": "on",
	}, attrs)
	assert.Equal(t, "shop/checkout v1.4.2 started rolling out in production, canary at 10%, replacing v1.4.1, high risk, owner team-payments: move cart pricing", lr.Body().Str())

	// The same delivery again is a duplicate: 200, nothing emitted.
	a = h.post(t, "/v1/events", "application/json", nativeEvent("deploy-4711", "started", "v1.4.2"), nil)
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "duplicate", a.body["status"])
	assert.Equal(t, 1, h.sink.LogRecordCount())

	// A later lifecycle event of the same deployment is not a duplicate.
	a = h.post(t, "/v1/events", "application/json", nativeEvent("deploy-4711", "succeeded", "v1.4.2"), nil)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	rel, _ = h.store.Release("deploy-4711")
	assert.Equal(t, release.StatusSucceeded, rel.Status)
	assert.Equal(t, 2, h.sink.LogRecordCount())

	requests := counts(t, h.tel, "otelcol.releasemetadata.requests")
	assert.Equal(t, map[string]int64{"native/accepted/": 2, "native/duplicate/": 1}, requests)
}

func TestRejections(t *testing.T) {
	h := startHarness(t, func(c *Config) {
		c.MaxRequestBodySize = 4096
		c.Sources = map[string]SourceConfig{"github": {Secret: configopaque.String("s3cret")}}
	}, nil)
	big := bytes.Repeat([]byte("x"), 5000)
	tests := []struct {
		name, path, contentType string
		body                    []byte
		headers                 map[string]string
		code                    int
		field, rule             string
	}{
		{"malformed JSON", "/v1/events", "application/json", []byte(`{"id":`), nil, 400, "body", "syntax"},
		{"unknown field", "/v1/events", "application/json", []byte(`{"id":"a","release":{"stratgey":"canary"}}`), nil, 400, "release.stratgey", "unmapped"},
		{"missing version", "/v1/events", "application/json", []byte(`{"id":"a","type":"started","attributes":{"service.name":"s","deployment.environment.name":"prod"}}`), nil, 400, "attributes.service.version", "required"},
		{"future time", "/v1/events", "application/json", []byte(`{"id":"a","type":"started","time":"2999-01-01T00:00:00Z","attributes":{"service.name":"s","service.version":"1","deployment.environment.name":"prod"}}`), nil, 400, "time", "max_future_skew"},
		{"batch member invalid", "/v1/events", "application/json", []byte(`[{"id":"a","type":"started","attributes":{"service.name":"s","service.version":"1","deployment.environment.name":"prod"}},{"id":"b","type":"nope","attributes":{"service.name":"s","service.version":"1","deployment.environment.name":"prod"}}]`), nil, 400, "[1].type", "enum"},
		{"wrong content type", "/v1/events", "text/plain", []byte(`{}`), nil, 415, "header Content-Type", "media_type"},
		{"too large", "/v1/events", "application/json", big, nil, 413, "body", "max_request_body_size"},
		{"unsigned github", "/v1/github", "application/json", []byte(`{}`), map[string]string{"X-GitHub-Event": "deployment", "X-GitHub-Delivery": "d1"}, 401, "authentication", "signature"},
		{"badly signed github", "/v1/github", "application/json", []byte(`{}`), map[string]string{"X-GitHub-Event": "deployment", "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": "sha256=00"}, 401, "authentication", "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.post(t, tt.path, tt.contentType, tt.body, tt.headers)
			assert.Equal(t, tt.code, a.code, a.body)
			assert.Equal(t, "rejected", a.body["status"])
			assert.Equal(t, tt.field, a.body["field"])
			assert.Equal(t, tt.rule, a.body["rule"])
			assert.NotEmpty(t, a.body["error"])
		})
	}
	// The valid first member of the rejected batch was not stored either.
	_, ok := h.store.Release("a")
	assert.False(t, ok, "nothing from a rejected request is stored")
	assert.Zero(t, h.sink.LogRecordCount())

	resp, err := http.Get(h.url + "/v1/events")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))

	rejected := counts(t, h.tel, "otelcol.releasemetadata.requests")
	assert.Equal(t, map[string]int64{
		"native/rejected/invalid": 5, "native/rejected/unsupported_media_type": 1, "native/rejected/too_large": 1,
		"github/rejected/unauthorized": 2, "native/rejected/method_not_allowed": 1,
	}, rejected)
}

func TestSignedGitHubDeliveryIsAccepted(t *testing.T) {
	h := startHarness(t, func(c *Config) {
		c.Sources = map[string]SourceConfig{"github": {Secret: configopaque.String("s3cret")}}
	}, nil)
	body := []byte(`{"action":"created","deployment":{"id":42,"sha":"9f2c1e7aa","ref":"main","environment":"production","created_at":"2026-11-24T10:00:00Z","payload":{"service.version":"v1.4.2"}},"repository":{"name":"checkout","full_name":"acme/checkout","html_url":"https://github.com/acme/checkout"}}`)
	a := h.post(t, "/v1/github", "application/json", body, map[string]string{
		"X-GitHub-Event": "deployment", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"X-Hub-Signature-256": source.SignHexHMAC([]byte("s3cret"), body),
	})
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	rel, ok := h.store.Release("github-42")
	require.True(t, ok)
	assert.Equal(t, "checkout", rel.Attributes[release.AttrServiceName])
	assert.Equal(t, "v1.4.2", rel.Version())
}

func TestDisabledSourceIsNotServed(t *testing.T) {
	off := false
	h := startHarness(t, func(c *Config) { c.Sources = map[string]SourceConfig{"flux": {Enabled: &off}} }, nil)
	a := h.post(t, "/v1/flux", "application/json", []byte(`{}`), nil)
	assert.Equal(t, http.StatusNotFound, a.code)
	assert.Contains(t, a.body["error"], "no event source at /v1/flux")
}

// failingStore refuses to persist, as a store whose storage is down does.
type failingStore struct {
	releasestoreextension.Store
	component.Component
}

func (failingStore) Record(context.Context, []release.Event) ([]releasestoreextension.Outcome, error) {
	return nil, fmt.Errorf("%w: disk full", releasestoreextension.ErrUnavailable)
}

func (failingStore) Subscribe(releasestoreextension.Subscriber) func() { return func() {} }

func TestUnavailableStoreAnswers503(t *testing.T) {
	h := startHarness(t, nil, failingStore{})
	a := h.post(t, "/v1/events", "application/json", nativeEvent("d1", "started", "v1"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, a.code)
	assert.Equal(t, "storage", a.body["field"])
	assert.Zero(t, h.sink.LogRecordCount())
}

func TestAnnotationsAndDecisionsBecomeLogRecords(t *testing.T) {
	h := startHarness(t, nil, nil)
	a := h.post(t, "/v1/events", "application/json", nativeEvent("deploy-1", "started", "v2"), nil)
	require.Equal(t, http.StatusAccepted, a.code)
	ctx := context.Background()
	_, err := h.store.Annotate(ctx, release.Annotation{ID: "ann-1", ReleaseID: "deploy-1", Label: "false_alarm",
		Text: "load test traffic", Author: "sre", CreatedAt: time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	d := &release.Decision{
		DecisionID: "dec-1", Action: release.ActionRollback, Verdict: release.VerdictRegression, Cause: release.CauseEndogenous,
		Confidence: 0.995, DecidedAt: time.Date(2026, 11, 24, 10, 1, 0, 0, time.UTC),
		Release: map[string]string{
			release.AttrDeploymentID: "deploy-1", release.AttrServiceName: "checkout",
			release.AttrDeploymentEnvironment: "production", release.AttrServiceVersion: "v2",
		},
		Evidence:  []release.Evidence{{Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.995, Samples: release.Samples{Control: 18211, Candidate: 2013}}},
		Rationale: "checkout v2 fails 5.2% of requests vs 1.1% for v1",
	}
	added, err := h.store.PublishDecision(ctx, d)
	require.NoError(t, err)
	require.True(t, added)

	require.Equal(t, 3, h.sink.LogRecordCount())
	ann := h.sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, release.EventNameAnnotation, ann.EventName())
	assert.Equal(t, "false_alarm", ann.Attributes().AsRaw()[release.AttrAnnotationLabel])
	assert.Equal(t, "false_alarm on shop/checkout v2 in production: load test traffic", ann.Body().Str())

	dec := h.sink.AllLogs()[2].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, release.EventNameDecision, dec.EventName())
	assert.Equal(t, plog.SeverityNumberError, dec.SeverityNumber())
	assert.Equal(t, "rollback", dec.Attributes().AsRaw()[release.AttrDecisionAction])
	body := dec.Body().Map().AsRaw()
	assert.Equal(t, "dec-1", body["decision_id"])
	assert.Equal(t, "endogenous", body["cause"])
	assert.Equal(t, 0.995, body["confidence"])
}

// counts sums a counter's data points by their attribute values joined
// "source/outcome/reason".
func counts(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a sum", name)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		src, _ := dp.Attributes.Value("source")
		outcome, _ := dp.Attributes.Value("outcome")
		reason, _ := dp.Attributes.Value("reason")
		out[src.AsString()+"/"+outcome.AsString()+"/"+reason.AsString()] += dp.Value
	}
	return out
}
