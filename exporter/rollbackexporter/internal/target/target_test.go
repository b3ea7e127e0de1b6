package target

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// captured is one request a test server received.
type captured struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// server answers each request with the next status and body (the last pair
// repeats) and records what it received.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []captured
}

func newServer(t *testing.T, answers ...any) *server {
	t.Helper()
	return newServerOn(t, httptest.NewServer, answers...)
}

// newServerOn is newServer started by start (httptest.NewServer, or a TLS
// server with a chosen certificate).
func newServerOn(t *testing.T, start func(http.Handler) *httptest.Server, answers ...any) *server {
	t.Helper()
	s := &server{}
	i := 0
	s.Server = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		status, answer := 200, "{}"
		if len(answers) >= 2 {
			k := min(i, len(answers)/2-1)
			status, answer = answers[2*k].(int), answers[2*k+1].(string)
		}
		i++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) got() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]captured(nil), s.requests...)
}

var testNow = time.Date(2026, 11, 24, 10, 1, 0, 0, time.UTC)

func testEnv(dryRun bool) Env {
	return Env{
		HTTP:        &http.Client{Transport: &RecordingTransport{DryRun: dryRun}, Timeout: 5 * time.Second},
		Now:         func() time.Time { return testNow },
		OperatorURL: "http://localhost:8089",
		TraceURL:    func(id string) string { return "http://jaeger:16686/trace/" + id },
		DryRun:      dryRun,
	}
}

func testAction() Action {
	d := &release.Decision{
		DecisionID: "dec-deploy-4711-rollback", Action: release.ActionRollback, Verdict: release.VerdictRegression,
		Cause: release.CauseEndogenous, Confidence: 0.995, DecidedAt: testNow,
		Release: map[string]string{
			"deployment.id": "deploy-4711", "service.name": "checkout", "service.namespace": "shop",
			"deployment.environment.name": "production", "service.version": "v1.4.2", "previous_version": "v1.4.1",
		},
		Evidence: []release.Evidence{{Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.995,
			Samples: release.Samples{Control: 18211, Candidate: 2013}, Exemplars: []string{"4bf92f3577b34da6a3ce929d0e0e4736"}}},
		Rationale: "shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.",
	}
	r := &release.Release{ID: "deploy-4711", Attributes: map[string]string{
		"service.name": "checkout", "service.version": "v1.4.2", "deployment.environment.name": "production",
		"vcs.ref.head.revision": "9f2c1e7aa", "vcs.repository.url.full": "https://github.com/acme/checkout",
	}, Release: release.Context{FeatureFlags: []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}}}
	return Action{Decision: d, Release: r, Target: "t", IdempotencyKey: "dec-deploy-4711-rollback/t"}
}

func TestExpand(t *testing.T) {
	a := testAction()
	assert.Equal(t, "shop-checkout-production-v1.4.2-{nope}", Expand("{service.namespace}-{service.name}-{deployment.environment.name}-{service.version}-{nope}", a))
	assert.Equal(t, "no placeholders", Expand("no placeholders", a))
	assert.Equal(t, "open {brace", Expand("open {brace", a))
}

func TestDoClassifiesAnswers(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
		ok        bool
	}{{200, false, true}, {204, false, true}, {400, true, false}, {401, true, false}, {404, true, false},
		{408, false, false}, {429, false, false}, {500, false, false}, {503, false, false}} {
		s := newServer(t, tc.status, `{"message":"nope"}`)
		_, _, err := Do(context.Background(), http.DefaultClient, "POST", s.URL, nil, map[string]string{"a": "b"})
		if tc.ok {
			assert.NoError(t, err, tc.status)
			continue
		}
		require.Error(t, err, tc.status)
		assert.Equal(t, tc.permanent, errors.Is(err, ErrPermanent), "status %d", tc.status)
		assert.Contains(t, err.Error(), "nope", "the target's answer is quoted")
	}
	// Connection refused is transient.
	s := newServer(t)
	s.Close()
	_, _, err := Do(context.Background(), http.DefaultClient, "POST", s.URL, nil, nil)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
}

func TestRecordingTransportDryRunSendsNothingButReads(t *testing.T) {
	s := newServer(t, 200, `{"id":7}`)
	env := testEnv(true)
	rec := &Recorder{}
	ctx := WithRecorder(context.Background(), rec)
	_, body, err := Do(ctx, env.HTTP, "GET", s.URL+"/lookup", map[string]string{"Authorization": "Bearer x"}, nil)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":7}`, string(body), "reads go through in dry run")
	_, _, err = Do(ctx, env.HTTP, "POST", s.URL+"/mutate", nil, map[string]any{"enabled": false})
	require.NoError(t, err)
	require.Len(t, s.got(), 1, "the mutation was not sent")
	require.Len(t, rec.Requests, 2)
	assert.Equal(t, "<redacted>", rec.Requests[0].Headers["Authorization"])
	assert.Equal(t, release.RecordedRequest{Method: "POST", URL: s.URL + "/mutate", Headers: map[string]string{"Content-Type": "application/json"},
		Body: `{"enabled":false}`}, rec.Requests[1])
}

func TestWebhook(t *testing.T) {
	s := newServer(t, 202, `{}`)
	f, ok := Lookup("webhook")
	require.True(t, ok)
	cfg := f.NewConfig().(*WebhookConfig)
	cfg.Endpoint = s.URL + "/hooks/{service.name}"
	cfg.Secret = "s3cret"
	require.NoError(t, cfg.Validate())
	tg, err := f.New(cfg)
	require.NoError(t, err)
	summary, err := tg.Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Contains(t, summary, "/hooks/checkout")
	got := s.got()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/hooks/checkout", r.Path)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "dec-deploy-4711-rollback/t", r.Header.Get("Idempotency-Key"))
	ts := r.Header.Get("X-Signature-Timestamp")
	assert.Equal(t, strconv.FormatInt(testNow.Unix(), 10), ts)
	assert.Equal(t, SignWebhook([]byte("s3cret"), ts, r.Body), r.Header.Get("X-Signature-256"))
	var d release.Decision
	require.NoError(t, jsonUnmarshal(r.Body, &d))
	assert.Equal(t, *testAction().Decision, d)

	cfg.Endpoint = "ftp://x"
	assert.ErrorContains(t, cfg.Validate(), "endpoint: must be an http or https URL")
}

func TestFlagsFromReleaseOrDecision(t *testing.T) {
	a := testAction()
	assert.Equal(t, []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}, Flags(a))
	a.Release = nil
	assert.Empty(t, Flags(a))
	a.Decision.Release[release.DecisionFeatureFlags] = "new-pricing=on, dark-mode"
	assert.Equal(t, []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}, {Key: "dark-mode"}}, Flags(a))
}

func TestExpandFallsBackToReleaseAttributes(t *testing.T) {
	a := testAction()
	assert.Equal(t, "9f2c1e7aa@checkout", Expand("{vcs.ref.head.revision}@{service.name}", a))
}

func TestRecordingTransportRedactsRegisteredSecrets(t *testing.T) {
	s := newServer(t, 200, `{}`)
	rec := &Recorder{}
	ctx := WithRedactions(WithRecorder(context.Background(), rec), map[string]string{"tok-123": "<redacted>"})
	ctx = WithRedactions(ctx, map[string]string{"/hooks/secret-path": "/hooks/<hidden>"})
	_, _, err := Do(ctx, testEnv(false).HTTP, "POST", s.URL+"/hooks/secret-path?k=tok-123", map[string]string{"X-Token": "Bearer tok-123"},
		map[string]string{"routing_key": "tok-123"})
	require.NoError(t, err)
	require.Len(t, rec.Requests, 1)
	got := rec.Requests[0]
	assert.Equal(t, s.URL+"/hooks/<hidden>?k=<redacted>", got.URL)
	assert.Equal(t, "Bearer <redacted>", got.Headers["X-Token"])
	assert.Equal(t, `{"routing_key":"<redacted>"}`, got.Body)
	// The server itself received the real values.
	assert.Equal(t, "Bearer tok-123", s.got()[0].Header.Get("X-Token"))
}

func TestWebhookCustomHeadersStayOutOfTheAuditTrail(t *testing.T) {
	s := newServer(t, 202, `{}`)
	tg, env := makeClientTarget(t, "webhook", func(c *WebhookConfig) {
		c.Endpoint = s.URL
		c.Headers = configopaque.MapList{{Name: "X-Api-Token", Value: "hunter2"}}
	}, nil, false)
	rec := &Recorder{}
	_, err := tg.Act(WithRecorder(context.Background(), rec), env, testAction())
	require.NoError(t, err)
	require.Len(t, rec.Requests, 1)
	assert.Equal(t, "<redacted>", rec.Requests[0].Headers["X-Api-Token"])
	assert.Equal(t, "hunter2", s.got()[0].Header.Get("X-Api-Token"), "sent for real")
}
