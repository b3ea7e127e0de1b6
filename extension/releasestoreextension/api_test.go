package releasestoreextension

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// api is a client of one started store's HTTP API.
type api struct {
	t      *testing.T
	base   string
	client *http.Client
	token  string
}

func newAPI(t *testing.T, s *releaseStore) *api {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, base: "http://" + s.cfg.NetAddr.Endpoint, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends a request and returns the status, the Content-Type and the body.
func (a *api) do(method, path, contentType, body string) (int, http.Header, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	require.NoError(a.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, resp.Header, data
}

func (a *api) get(path string, into any) int {
	a.t.Helper()
	status, h, body := a.do(http.MethodGet, path, "", "")
	if status == http.StatusOK || status == http.StatusBadRequest || status == http.StatusNotFound {
		assert.Equal(a.t, "application/json", h.Get("Content-Type"))
	}
	if into != nil {
		require.NoError(a.t, json.Unmarshal(body, into), "body: %s", body)
	}
	return status
}

type releaseList struct {
	Releases []*release.Release `json:"releases"`
	Total    int                `json:"total"`
}

func listIDs(l releaseList) []string {
	out := make([]string, len(l.Releases))
	for i, r := range l.Releases {
		out[i] = r.ID
	}
	return out
}

// seed records releases of three services in two environments.
func seed(t *testing.T, s *releaseStore) {
	t.Helper()
	record(t, s,
		event("d1", release.EventStarted, "v1", 0),
		event("d1", release.EventSucceeded, "v1", time.Minute),
		event("d2", release.EventStarted, "v2", time.Hour, withPercent(10)),
		event("s1", release.EventSucceeded, "v2", 2*time.Hour, withEnv("staging")),
		event("c1", release.EventFailed, "v7", 3*time.Hour, withService("cart")),
		event("o1", release.EventStarted, "v1", 4*time.Hour, withService("orders"), func(e *release.Event) {
			e.Attributes[release.AttrServiceNamespace] = "backoffice"
		}),
	)
}

func TestAPIListReleases(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)

	var l releaseList
	require.Equal(t, http.StatusOK, a.get("/api/v1/releases", &l))
	assert.NotNil(t, l.Releases, "an empty list, not null")
	assert.Empty(t, l.Releases)
	assert.Equal(t, 0, l.Total)

	seed(t, s)
	for _, tc := range []struct {
		query string
		ids   []string
	}{
		{"", []string{"o1", "c1", "s1", "d2", "d1"}},
		{"?service=checkout", []string{"s1", "d2", "d1"}},
		{"?namespace=backoffice", []string{"o1"}},
		{"?namespace=shop&service=orders", []string{}},
		{"?environment=staging", []string{"s1"}},
		{"?service=checkout&environment=production", []string{"d2", "d1"}},
		{"?status=in_progress", []string{"o1", "d2"}},
		{"?status=failed", []string{"c1"}},
		{"?status=succeeded&environment=production", []string{"d1"}},
		{"?status=rolled_back", []string{}},
		{"?service=nope", []string{}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var l releaseList
			require.Equal(t, http.StatusOK, a.get("/api/v1/releases"+tc.query, &l))
			assert.Equal(t, tc.ids, listIDs(l))
			assert.Equal(t, len(tc.ids), l.Total)
		})
	}

	// The list holds the releases as stored.
	require.Equal(t, http.StatusOK, a.get("/api/v1/releases?service=checkout&status=in_progress", &l))
	want, _ := s.Release("d2")
	require.Len(t, l.Releases, 1)
	assert.Equal(t, want, l.Releases[0])
}

func TestAPIPagination(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)
	seed(t, s)
	for _, tc := range []struct {
		query string
		ids   []string
	}{
		{"?limit=2", []string{"o1", "c1"}},
		{"?limit=2&offset=2", []string{"s1", "d2"}},
		{"?limit=2&offset=4", []string{"d1"}},
		{"?offset=5", []string{}},
		{"?offset=500", []string{}},
		{"?limit=1000", []string{"o1", "c1", "s1", "d2", "d1"}},
		{"?service=checkout&limit=1&offset=1", []string{"d2"}},
	} {
		var l releaseList
		require.Equal(t, http.StatusOK, a.get("/api/v1/releases"+tc.query, &l), tc.query)
		assert.Equal(t, tc.ids, listIDs(l), tc.query)
		if strings.Contains(tc.query, "service=checkout") {
			assert.Equal(t, 3, l.Total, tc.query)
		} else {
			assert.Equal(t, 5, l.Total, "total counts every match, not the page: %s", tc.query)
		}
	}
}

func TestAPIBadQuery(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)
	for _, tc := range []struct{ path, field, rule string }{
		{"/api/v1/releases?status=live", "status", release.RuleEnum},
		{"/api/v1/releases?limit=0", "limit", release.RuleRange},
		{"/api/v1/releases?limit=1001", "limit", release.RuleRange},
		{"/api/v1/releases?limit=ten", "limit", release.RuleRange},
		{"/api/v1/releases?offset=-1", "offset", release.RuleRange},
		{"/api/v1/decisions?limit=-5", "limit", release.RuleRange},
		{"/api/v1/decisions?offset=x", "offset", release.RuleRange},
	} {
		var fe release.FieldError
		require.Equal(t, http.StatusBadRequest, a.get(tc.path, &fe), tc.path)
		assert.Equal(t, tc.field, fe.Field, tc.path)
		assert.Equal(t, tc.rule, fe.Rule, tc.path)
		assert.NotEmpty(t, fe.Message, tc.path)
	}
	var fe release.FieldError
	require.Equal(t, http.StatusBadRequest, a.get("/api/v1/releases?status=live", &fe))
	assert.Contains(t, fe.Message, `"live" is not a release status`)
}

func TestAPIGetRelease(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)
	seed(t, s)

	var got release.Release
	require.Equal(t, http.StatusOK, a.get("/api/v1/releases/d2", &got))
	want, _ := s.Release("d2")
	assert.Equal(t, *want, got)
	assert.Equal(t, release.StatusInProgress, got.Status)
	assert.Equal(t, "v1", got.Release.PreviousVersion)
	assert.Equal(t, 10.0, *got.Release.RolloutPercentage)

	// The JSON mirrors the native document plus the lifecycle.
	_, _, raw := a.do(http.MethodGet, "/api/v1/releases/d1", "", "")
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, "d1", doc["id"])
	assert.Equal(t, "succeeded", doc["status"])
	assert.Equal(t, "2026-11-24T10:01:00Z", doc["completed_at"])
	assert.Equal(t, map[string]any{
		"service.name": "checkout", "service.namespace": "shop", "service.version": "v1",
		"deployment.environment.name": "production", "deployment.id": "d1",
	}, doc["attributes"])
	assert.Len(t, doc["events"], 2)

	var fe release.FieldError
	require.Equal(t, http.StatusNotFound, a.get("/api/v1/releases/nope", &fe))
	assert.Equal(t, "id", fe.Field)
	assert.Equal(t, "not_found", fe.Rule)
	assert.Contains(t, fe.Message, `"nope"`)

	require.Equal(t, http.StatusNotFound, a.get("/api/v1/nothing", &fe))
	assert.Equal(t, "path", fe.Field)
	status, _, _ := a.do(http.MethodDelete, "/api/v1/releases/d1", "", "")
	assert.Equal(t, http.StatusNotFound, status)
	_, ok := s.Release("d1")
	assert.True(t, ok)
}

// productDecision is the decision document of PRODUCT.md with every field
// the model carries.
const productDecision = `{
  "decision_id": "dec-7f3a", "action": "rollback", "verdict": "regression", "cause": "endogenous",
  "confidence": 0.995, "dry_run": false, "decided_at": "2026-11-24T10:05:00Z",
  "release": {"deployment.id": "d2", "service.name": "checkout",
              "deployment.environment.name": "production", "service.version": "v2",
              "previous_version": "v1"},
  "evidence": [{"signal": "error_rate", "control": 0.011, "candidate": 0.052, "effect": 4.7,
                "confidence": 0.995, "samples": {"control": 18211, "candidate": 2013},
                "window": {"start": "2026-11-24T10:04:20Z", "end": "2026-11-24T10:05:00Z"},
                "exemplars": ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"],
                "slices": [{"dimension": "http.route", "value": "/cart", "control": 0.01, "candidate": 0.09}]},
               {"signal": "latency_p99", "control": 0.21, "candidate": 0.23, "effect": 0.1,
                "confidence": 0.5, "samples": {"control": 18211, "candidate": 2013},
                "window": {"start": "2026-11-24T10:04:20Z", "end": "2026-11-24T10:05:00Z"}}],
  "rationale": "checkout v2 fails 5.2% of requests vs 1.1% for v1 over the same 40 s"
}`

func TestAPIDecisions(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)
	seed(t, s)

	status, _, body := a.do(http.MethodGet, "/api/v1/decisions", "", "")
	require.Equal(t, http.StatusOK, status)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	assert.Equal(t, "[]", string(raw["decisions"]), "an empty list, not null")
	assert.Equal(t, "0", string(raw["total"]))

	var d release.Decision
	require.NoError(t, json.Unmarshal([]byte(productDecision), &d))
	added, err := s.PublishDecision(context.Background(), &d)
	require.NoError(t, err)
	require.True(t, added)
	other := testDecision("dec-other", "c1")
	other.Action = release.ActionNotify
	other.Release[release.AttrServiceName] = "cart"
	_, err = s.PublishDecision(context.Background(), other)
	require.NoError(t, err)

	status, _, body = a.do(http.MethodGet, "/api/v1/decisions?release=d2", "", "")
	require.Equal(t, http.StatusOK, status)
	var page struct {
		Decisions []json.RawMessage `json:"decisions"`
		Total     int               `json:"total"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Decisions, 1)
	assert.Equal(t, 1, page.Total)
	// Field by field, the document that comes out is the one that went in.
	assert.JSONEq(t, productDecision, string(page.Decisions[0]))

	var decoded release.Decision
	require.NoError(t, json.Unmarshal(page.Decisions[0], &decoded))
	assert.Equal(t, d, decoded)

	for _, tc := range []struct {
		query string
		ids   []string
	}{
		{"", []string{"dec-other", "dec-7f3a"}},
		{"?service=checkout", []string{"dec-7f3a"}},
		{"?action=notify", []string{"dec-other"}},
		{"?environment=production&action=rollback", []string{"dec-7f3a"}},
		{"?environment=staging", []string{}},
		{"?limit=1", []string{"dec-other"}},
		{"?limit=1&offset=1", []string{"dec-7f3a"}},
	} {
		var l struct {
			Decisions []release.Decision `json:"decisions"`
		}
		require.Equal(t, http.StatusOK, a.get("/api/v1/decisions"+tc.query, &l), tc.query)
		got := make([]string, len(l.Decisions))
		for i, d := range l.Decisions {
			got[i] = d.DecisionID
		}
		assert.Equal(t, tc.ids, got, tc.query)
	}
}

func TestAPIPostAnnotation(t *testing.T) {
	s := env{}.start(t)
	a := newAPI(t, s)
	seed(t, s)
	var notified []release.Annotation
	defer s.Subscribe(Subscriber{OnAnnotation: func(an release.Annotation, _ *release.Release) { notified = append(notified, an) }})()

	before := time.Now().UTC()
	status, h, body := a.do(http.MethodPost, "/api/v1/releases/d2/annotations", "application/json; charset=utf-8",
		`{"label": "False_Alarm ", "text": " load test in eu-1 ", "link": "https://runbooks.example.com/lt", "author": "ana", "decision_id": "dec-1"}`)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	var stored release.Annotation
	require.NoError(t, json.Unmarshal(body, &stored))
	assert.True(t, strings.HasPrefix(stored.ID, "ann-"), stored.ID)
	assert.Len(t, stored.ID, len("ann-")+16)
	assert.Equal(t, "d2", stored.ReleaseID)
	assert.Equal(t, "dec-1", stored.DecisionID)
	assert.Equal(t, "false_alarm", stored.Label)
	assert.Equal(t, "load test in eu-1", stored.Text)
	assert.Equal(t, "https://runbooks.example.com/lt", stored.Link)
	assert.Equal(t, "ana", stored.Author)
	assert.False(t, stored.CreatedAt.Before(before.Truncate(time.Second)), stored.CreatedAt)
	assert.False(t, stored.CreatedAt.After(time.Now().UTC()), stored.CreatedAt)
	require.Len(t, notified, 1)
	assert.Equal(t, stored.ID, notified[0].ID)

	// It shows up on the release.
	var r release.Release
	require.Equal(t, http.StatusOK, a.get("/api/v1/releases/d2", &r))
	require.Len(t, r.Annotations, 1)
	assert.Equal(t, stored, r.Annotations[0])

	// A link alone is enough; the label defaults to note.
	status, _, body = a.do(http.MethodPost, "/api/v1/releases/d2/annotations", "application/json", `{"link": "https://example.com/pr/1"}`)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &stored))
	assert.Equal(t, "note", stored.Label)

	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		field, rule                   string
	}{
		{"bad label", "/api/v1/releases/d2/annotations", "application/json", `{"label": "blame", "text": "x"}`,
			http.StatusBadRequest, "label", release.RuleEnum},
		{"no text or link", "/api/v1/releases/d2/annotations", "application/json", `{"label": "note"}`,
			http.StatusBadRequest, "text", release.RuleRequired},
		{"bad link", "/api/v1/releases/d2/annotations", "application/json", `{"link": "javascript:alert(1)"}`,
			http.StatusBadRequest, "link", release.RuleFormat},
		{"unknown field", "/api/v1/releases/d2/annotations", "application/json", `{"text": "x", "severity": 3}`,
			http.StatusBadRequest, "body", release.RuleSyntax},
		{"not json", "/api/v1/releases/d2/annotations", "application/json", `label=note`,
			http.StatusBadRequest, "body", release.RuleSyntax},
		{"unknown release", "/api/v1/releases/nope/annotations", "application/json", `{"text": "x"}`,
			http.StatusNotFound, "id", "not_found"},
		{"no content type", "/api/v1/releases/d2/annotations", "", `{"text": "x"}`,
			http.StatusUnsupportedMediaType, "header Content-Type", "media_type"},
		{"form", "/api/v1/releases/d2/annotations", "application/x-www-form-urlencoded", `text=x`,
			http.StatusUnsupportedMediaType, "header Content-Type", "media_type"},
		{"text/plain", "/api/v1/releases/d2/annotations", "text/plain", `{"text": "x"}`,
			http.StatusUnsupportedMediaType, "header Content-Type", "media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := a.do(http.MethodPost, tc.path, tc.contentType, tc.body)
			require.Equal(t, tc.status, status, "%s", body)
			var fe release.FieldError
			require.NoError(t, json.Unmarshal(body, &fe), "%s", body)
			assert.Equal(t, tc.field, fe.Field)
			assert.Equal(t, tc.rule, fe.Rule)
		})
	}
	rel, _ := s.Release("d2")
	assert.Len(t, rel.Annotations, 2, "rejected annotations are not stored")
	assert.Len(t, notified, 2)
}

func TestAPIPostAnnotationStorageUnavailable(t *testing.T) {
	client := &failingClient{data: map[string][]byte{}}
	s := withStorage(&fakeStorage{client: client}).start(t)
	a := newAPI(t, s)
	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	client.setFail(true)
	status, _, body := a.do(http.MethodPost, "/api/v1/releases/d1/annotations", "application/json", `{"text": "x"}`)
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
	var fe release.FieldError
	require.NoError(t, json.Unmarshal(body, &fe))
	assert.Equal(t, "storage", fe.Field)
	assert.Equal(t, "unavailable", fe.Rule)
	r, _ := s.Release("d1")
	assert.Empty(t, r.Annotations)
	client.setFail(false)
}

func TestAPIBodyLimit(t *testing.T) {
	s := env{cfg: func(c *Config) { c.MaxRequestBodySize = 64 }}.start(t)
	a := newAPI(t, s)
	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	status, _, body := a.do(http.MethodPost, "/api/v1/releases/d1/annotations", "application/json",
		`{"text": "`+strings.Repeat("x", 200)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", body)
	var fe release.FieldError
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(body), &fe))
	assert.Equal(t, "body", fe.Field)
}

func TestAPIWithBearerTokenAuth(t *testing.T) {
	authID := component.MustNewID("bearertokenauth")
	f := bearertokenauthextension.NewFactory()
	authCfg := f.CreateDefaultConfig().(*bearertokenauthextension.Config)
	authCfg.BearerToken = "s3cret"
	auth, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), authCfg)
	require.NoError(t, err)
	require.NoError(t, auth.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, auth.Shutdown(context.Background())) })

	// Configured as in a collector YAML file.
	s := env{
		host: newHost(map[component.ID]component.Component{authID: auth}),
		cfg: func(c *Config) {
			conf := confmap.NewFromStringMap(map[string]any{"auth": map[string]any{"authenticator": "bearertokenauth"}})
			require.NoError(t, conf.Unmarshal(c))
			require.True(t, c.Auth.HasValue())
		},
	}.start(t)
	seed(t, s)
	a := newAPI(t, s)

	status, _, _ := a.do(http.MethodGet, "/api/v1/releases", "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "no token")
	a.token = "wrong"
	status, _, _ = a.do(http.MethodGet, "/api/v1/releases/d1", "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "wrong token")
	status, _, _ = a.do(http.MethodPost, "/api/v1/releases/d1/annotations", "application/json", `{"text": "x"}`)
	assert.Equal(t, http.StatusUnauthorized, status)
	r, _ := s.Release("d1")
	assert.Empty(t, r.Annotations, "an unauthenticated annotation is not stored")

	a.token = "s3cret"
	var l releaseList
	require.Equal(t, http.StatusOK, a.get("/api/v1/releases", &l))
	assert.Equal(t, 5, l.Total)
	status, _, body := a.do(http.MethodPost, "/api/v1/releases/d1/annotations", "application/json", `{"text": "x"}`)
	assert.Equal(t, http.StatusCreated, status, "%s", body)

	// The operator page is behind the same authenticator.
	a.token = ""
	for _, path := range []string{"/", "/releases/d1", "/api/v1/decisions"} {
		status, _, _ = a.do(http.MethodGet, path, "", "")
		assert.Equal(t, http.StatusUnauthorized, status, "%s without a token", path)
	}
	status, _, _ = a.do(http.MethodPost, "/api/v1/decisions/dec-x/approve", "application/json", `{}`)
	assert.Equal(t, http.StatusUnauthorized, status, "approve without a token")
	a.token = "s3cret"
	status, h, page := a.do(http.MethodGet, "/releases/d1", "", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, h.Get("Content-Type"), "text/html")
	assert.Contains(t, string(page), "d1")
}
