package releasestoreextension

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// pageClient calls the store's handler in process, as the server would.
type pageClient struct {
	t testing.TB
	h http.Handler
}

func newPageClient(t testing.TB, cfg func(*Config)) (*releaseStore, *pageClient) {
	t.Helper()
	s, err := env{cfg: cfg}.create(t)
	require.NoError(t, err)
	return s, &pageClient{t: t, h: s.apiHandler()}
}

func (c *pageClient) get(path string) (int, http.Header, string) {
	c.t.Helper()
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:8089"+path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func (c *pageClient) page(path string) string {
	c.t.Helper()
	status, h, body := c.get(path)
	require.Equalf(c.t, http.StatusOK, status, "GET %s: %s", path, body)
	require.Equal(c.t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Contains(c.t, h.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Equal(c.t, "DENY", h.Get("X-Frame-Options"))
	return body
}

func (c *pageClient) post(path string, headers map[string]string, body string) (int, string) {
	c.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8089"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var releaseRowRE = regexp.MustCompile(`<tr class="release" data-release-id="([^"]+)" data-state="([^"]+)"`)

func TestPageIndexByEnvironmentWithStateAndPages(t *testing.T) {
	s, c := newPageClient(t, nil)
	ctx := context.Background()
	// 60 releases of distinct services: 30 in production, 30 in staging,
	// one a minute apart, the newest last.
	var events []release.Event
	for i := 0; i < 60; i++ {
		envName := "production"
		if i%2 == 1 {
			envName = "staging"
		}
		events = append(events, event(fmt.Sprintf("d-%02d", i), release.EventStarted, "v2", time.Duration(i)*time.Minute,
			withService(fmt.Sprintf("svc-%02d", i)), withEnv(envName)))
	}
	// d-59: in progress without a decision (evaluating); d-58 regressed and
	// waits for approval; d-57 healthy; d-56 held; d-55 rolled back.
	record(t, s, events...)
	reg := testDecision("dec-58", "d-58")
	_, err := s.PublishDecision(ctx, reg)
	require.NoError(t, err)
	require.NoError(t, s.RecordOutcome(ctx, release.ActionOutcome{ID: "o1", DecisionID: "dec-58", ReleaseID: "d-58", Target: "hook",
		Action: release.ActionRollback, Status: release.OutcomePending, At: t0}))
	healthy := testDecision("dec-57", "d-57")
	healthy.Verdict, healthy.Action = release.VerdictHealthy, release.ActionNone
	held := testDecision("dec-56", "d-56")
	held.Verdict, held.Action = release.VerdictInconclusive, release.ActionHold
	for _, d := range []*release.Decision{healthy, held} {
		_, err = s.PublishDecision(ctx, d)
		require.NoError(t, err)
	}
	rb := event("d-55-rb", release.EventRolledBack, "v2", 70*time.Minute, withService("svc-55"), withEnv("staging"))
	rb.Attributes[release.AttrDeploymentID] = "d-55"
	record(t, s, rb)

	body := c.page("/")
	rows := releaseRowRE.FindAllStringSubmatch(body, -1)
	require.Len(t, rows, indexPageSize, "one page of releases")
	states := map[string]string{}
	for _, r := range rows {
		states[r[1]] = r[2]
	}
	assert.Equal(t, "evaluating", states["d-59"])
	assert.Equal(t, "regression", states["d-58"])
	assert.Equal(t, "healthy", states["d-57"])
	assert.Equal(t, "held", states["d-56"])
	assert.Equal(t, "rolled back", states["d-55"])
	assert.Contains(t, body, "awaits approval")
	assert.Contains(t, body, `href="/releases/d-58"`)
	// Grouped by environment, newest first within each.
	assert.Contains(t, body, "<h2>production</h2>")
	assert.Contains(t, body, "<h2>staging</h2>")
	assert.Less(t, strings.Index(body, `data-release-id="d-59"`), strings.Index(body, `data-release-id="d-57"`))
	assert.Contains(t, body, "Releases 1–50 of 60")
	assert.Contains(t, body, `href="/?page=2"`)

	page2 := c.page("/?page=2")
	rows2 := releaseRowRE.FindAllStringSubmatch(page2, -1)
	require.Len(t, rows2, 10)
	assert.Equal(t, "d-09", rows2[0][1])
	assert.Contains(t, page2, `href="/"`, "a link back to the newer page")

	staging := c.page("/?environment=staging")
	for _, r := range releaseRowRE.FindAllStringSubmatch(staging, -1) {
		var n int
		_, _ = fmt.Sscanf(r[1], "d-%d", &n)
		assert.Equal(t, 1, n%2, "only staging releases: %s", r[1])
	}

	status, _, _ := c.get("/?page=zero")
	assert.Equal(t, http.StatusBadRequest, status)
	status, h, _ := c.get("/static/page.css")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, h.Get("Content-Type"), "text/css")
	status, _, _ = c.get("/static/page.js")
	assert.Equal(t, http.StatusOK, status)
}

func TestPageEscapesEverything(t *testing.T) {
	s, c := newPageClient(t, nil)
	e := event("d-x", release.EventStarted, "v2<b>", 0)
	e.Release.Intent = `<script>alert("x")</script>`
	e.Release.Owner = `"><img src=x onerror=alert(1)>`
	record(t, s, e)
	d := testDecision("dec-x", "d-x")
	d.Rationale = "<script>steal()</script>"
	d.Evidence[0].Exemplars = []string{`"><script>1</script>`}
	_, err := s.PublishDecision(context.Background(), d)
	require.NoError(t, err)
	_, err = s.Annotate(context.Background(), release.Annotation{ID: "a1", ReleaseID: "d-x", Label: "note", Text: "<i>hi</i>", Link: "javascript:alert(1)", CreatedAt: t0})
	require.Error(t, err, "the store refuses non-http links in the first place")

	for _, path := range []string{"/", "/releases/d-x"} {
		body := c.page(path)
		assert.NotContains(t, body, "<script>alert", path)
		assert.NotContains(t, body, "<script>steal", path)
		assert.NotContains(t, body, "<img src=x", path)
		assert.NotContains(t, body, "v2<b>", path)
	}
	body := c.page("/releases/d-x")
	assert.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, body, "&lt;script&gt;steal()&lt;/script&gt;")
	assert.NotContains(t, body, `<script>1</script>`)
}

func TestPageRelease(t *testing.T) {
	s, c := newPageClient(t, func(cfg *Config) { cfg.TraceURLTemplate = "http://localhost:16686/trace/{trace_id}" })
	ctx := context.Background()
	e := event("deploy-1", release.EventStarted, "v2", 0, withPercent(20))
	e.Release.PreviousVersion, e.Release.Strategy = "v1", release.Strategy("canary")
	e.Release.Intent, e.Release.Owner, e.Release.Risk = "move pricing", "team-payments", "high"
	e.Release.FeatureFlags = []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}
	e.Attributes["vcs.ref.head.revision"] = "9f2c1e7"
	record(t, s, e)
	d := testDecision("dec-1", "deploy-1")
	d.DecidedAt = t0.Add(30 * time.Second)
	d.Evidence[0].Slices = []release.Slice{{Dimension: "http.route", Value: "/cart/checkout", Control: 0.01, Candidate: 0.3}}
	_, err := s.PublishDecision(ctx, d)
	require.NoError(t, err)
	require.NoError(t, s.RecordOutcome(ctx, release.ActionOutcome{ID: "o1", DecisionID: "dec-1", ReleaseID: "deploy-1",
		Target: "example-webhook", TargetType: "webhook", Action: release.ActionRollback, Status: release.OutcomeDryRun,
		Detail: "dry run: recorded, not sent", At: t0.Add(31 * time.Second),
		Requests: []release.RecordedRequest{{Method: "POST", URL: "http://localhost:9999/decisions/checkout", Body: `{"decision_id":"dec-1"}`}}}))
	_, err = s.Annotate(ctx, release.Annotation{ID: "a1", ReleaseID: "deploy-1", Label: "root_cause", Text: "pricing engine timeout",
		Link: "https://example.com/incident/1", CreatedAt: t0.Add(time.Hour)})
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		s.RecordSeries("deploy-1", release.SeriesPoint{At: t0.Add(time.Duration(i*5) * time.Second), Signals: []release.SignalPoint{
			{Signal: "error_rate", Candidate: 0.01 + 0.03*float64(i), Control: 0.01},
			{Signal: "latency_p95", Candidate: 0.05, Control: 0.05},
			{Signal: "kpi:orders", Candidate: 0.9, Control: 1.0},
		}})
	}

	body := c.page("/releases/deploy-1")
	for _, want := range []string{
		"shop/checkout", "v2", "v1", "canary", "20%", "move pricing", "team-payments", "high", "new-pricing=on", "9f2c1e7",
		// Decision and evidence table.
		"checkout v2 fails 5.2% of requests vs 1.1% for v1", "<td>error_rate</td>", "<td>1.1%</td>", "<td>5.2%</td>",
		"<td>99.5%</td>", "18211 / 2013", "http.route=/cart/checkout",
		// Exemplar through the template.
		`href="http://localhost:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"`,
		// Outcome with its recorded request.
		`data-status="dry_run" data-target="example-webhook"`, "dry run: recorded, not sent", "<details>",
		"POST http://localhost:9999/decisions/checkout",
		// Annotation and form.
		"pricing engine timeout", `href="https://example.com/incident/1"`, `<form id="annotate"`, `<option value="false_alarm">`,
		// Plots.
		`data-signal="error_rate"`, `data-signal="latency_p95"`, `data-signal="kpi:orders"`, `class="mark deploy"`, `class="mark decision"`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `data-review="approve"`, "nothing waits for approval")
	// The error-rate line has the ten recorded points, rising (y falls).
	m := regexp.MustCompile(`data-signal="error_rate"[\s\S]*?<polyline class="line candidate" points="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m)
	pts := strings.Fields(m[1])
	require.Len(t, pts, 10)
	var x0, y0, x9, y9 float64
	_, _ = fmt.Sscanf(pts[0], "%g,%g", &x0, &y0)
	_, _ = fmt.Sscanf(pts[9], "%g,%g", &x9, &y9)
	assert.Less(t, x0, x9)
	assert.Greater(t, y0, y9)

	// Without a template, exemplars are shown but not linked.
	s.cfg.TraceURLTemplate = ""
	body = c.page("/releases/deploy-1")
	assert.NotContains(t, body, "16686")
	assert.Contains(t, body, `<code class="trace">4bf92f3577b34da6a3ce929d0e0e4736</code>`)

	status, _, nf := c.get("/releases/nope")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, nf, "No release nope")
}

func TestPagePendingDecisionHasReviewButtons(t *testing.T) {
	s, c := newPageClient(t, nil)
	ctx := context.Background()
	record(t, s, event("deploy-1", release.EventStarted, "v2", 0))
	_, err := s.PublishDecision(ctx, testDecision("dec-1", "deploy-1"))
	require.NoError(t, err)
	require.NoError(t, s.RecordOutcome(ctx, pendingOutcome("dec-1", "argo")))
	body := c.page("/releases/deploy-1")
	assert.Contains(t, body, `data-review="approve" data-decision="dec-1"`)
	assert.Contains(t, body, `data-review="dismiss" data-decision="dec-1"`)

	// Same-origin approve (what the page's fetch sends) is accepted...
	status, resp := c.post("/api/v1/decisions/dec-1/approve",
		map[string]string{"Origin": "http://localhost:8089", "Sec-Fetch-Site": "same-origin"}, `{"actor":"ana"}`)
	require.Equalf(t, http.StatusAccepted, status, "answer: %s", resp)
	body = c.page("/releases/deploy-1")
	assert.NotContains(t, body, `data-review="approve"`)
	assert.Contains(t, body, "approved by ana")
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	s, c := newPageClient(t, nil)
	ctx := context.Background()
	record(t, s, event("deploy-1", release.EventStarted, "v2", 0))
	for _, id := range []string{"dec-1", "dec-2"} {
		_, err := s.PublishDecision(ctx, testDecision(id, "deploy-1"))
		require.NoError(t, err)
		require.NoError(t, s.RecordOutcome(ctx, pendingOutcome(id, "argo")))
	}
	paths := []string{"/api/v1/decisions/dec-1/approve", "/api/v1/decisions/dec-1/dismiss", "/api/v1/releases/deploy-1/annotations"}
	body := map[string]string{paths[0]: `{}`, paths[1]: `{}`, paths[2]: `{"text":"x"}`}
	for _, h := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "null"},
		{"Origin": "http://localhost:8089.evil.example"},
	} {
		for _, p := range paths {
			status, resp := c.post(p, h, body[p])
			assert.Equalf(t, http.StatusForbidden, status, "%s with %v: %s", p, h, resp)
			if status == http.StatusForbidden {
				assert.Contains(t, resp, "cross_site")
			}
		}
	}
	// Nothing changed.
	pending, _ := s.PendingDecision("dec-1")
	assert.True(t, pending)
	rel, _ := s.Release("deploy-1")
	assert.Empty(t, rel.Annotations)

	// Same origin, a proxy's forwarded host, typed requests and clients
	// without browser headers pass.
	status, resp := c.post(paths[2], map[string]string{"Origin": "http://localhost:8089", "Sec-Fetch-Site": "same-origin"}, `{"text":"x"}`)
	assert.Equalf(t, http.StatusCreated, status, "answer: %s", resp)
	status, resp = c.post(paths[2], map[string]string{"Origin": "https://ops.example", "X-Forwarded-Host": "ops.example"}, `{"text":"y"}`)
	assert.Equalf(t, http.StatusCreated, status, "answer: %s", resp)
	status, resp = c.post(paths[2], nil, `{"text":"z"}`)
	assert.Equalf(t, http.StatusCreated, status, "answer: %s", resp)
	status, resp = c.post("/api/v1/decisions/dec-2/dismiss", map[string]string{"Sec-Fetch-Site": "none"}, `{}`)
	assert.Equalf(t, http.StatusAccepted, status, "answer: %s", resp)
}

// TestPageStaysBoundedWithManyReleases renders the pages with 1,000
// releases and 10,000 decisions: pagination keeps every page small.
func TestPageStaysBoundedWithManyReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the store with 1,000 releases and 10,000 decisions")
	}
	s, c := newPageClient(t, nil)
	ctx := context.Background()
	events := make([]release.Event, 0, 1000)
	for i := 0; i < 1000; i++ {
		events = append(events, event(fmt.Sprintf("d-%04d", i), release.EventStarted, "v2", time.Duration(i)*time.Second,
			withService(fmt.Sprintf("svc-%04d", i)), withEnv([]string{"production", "staging", "dev"}[i%3])))
	}
	record(t, s, events...)
	for i := 0; i < 10000; i++ {
		// A tenth of the decisions are about the newest release.
		rid := fmt.Sprintf("d-%04d", i%1000)
		if i%10 == 0 {
			rid = "d-0999"
		}
		_, err := s.PublishDecision(ctx, testDecision(fmt.Sprintf("dec-%05d", i), rid))
		require.NoError(t, err)
	}
	for i := 0; i < maxSeriesPoints; i++ {
		s.RecordSeries("d-0999", release.SeriesPoint{At: t0.Add(time.Duration(i) * 5 * time.Second), Signals: []release.SignalPoint{
			{Signal: "error_rate", Candidate: 0.02, Control: 0.01}, {Signal: "latency_p95", Candidate: 0.05, Control: 0.05},
		}})
	}

	index := c.page("/")
	assert.Len(t, releaseRowRE.FindAllString(index, -1), indexPageSize)
	assert.Less(t, len(index), 150_000, "the index renders one page, not 1,000 releases")
	assert.Contains(t, index, "page 1 of 20")
	last := c.page("/?page=20")
	assert.Len(t, releaseRowRE.FindAllString(last, -1), indexPageSize)
	assert.Contains(t, last, "d-0000")

	busy := c.page("/releases/d-0999")
	assert.Equal(t, decisionsPageSize, strings.Count(busy, `<li class="decision"`), "the newest decisions only")
	assert.Contains(t, busy, "older decision(s) not shown")
	assert.Less(t, len(busy), 600_000, "the release page stays bounded with 1,000 decisions and a full series")
}

func TestTraceURLTemplateIsValidated(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"": true, "http://localhost:16686/trace/{trace_id}": true, "https://grafana.example/explore?traceId={trace_id}": true,
		"javascript:alert('{trace_id}')": false, "http://localhost:16686/trace/": false,
	} {
		cfg := NewFactory().CreateDefaultConfig().(*Config)
		cfg.TraceURLTemplate = tmpl
		if ok {
			assert.NoError(t, cfg.Validate(), tmpl)
		} else {
			assert.ErrorContains(t, cfg.Validate(), "trace_url_template", tmpl)
		}
	}
}

func TestConfidenceIsNeverShownAsCertainty(t *testing.T) {
	if got := pct(0.9999); got != ">99.9%" {
		t.Fatalf("pct(0.9999) = %q", got)
	}
	if got := pct(0.95); got != "95.0%" {
		t.Fatalf("pct(0.95) = %q", got)
	}
	// The templates use the same function.
	var b strings.Builder
	require.NoError(t, template.Must(template.New("probe").Funcs(pageFuncs).Parse(`{{pct .}}`)).Execute(&b, 0.9999))
	if b.String() != "&gt;99.9%" {
		t.Fatalf("the template renders %q", b.String())
	}
}

// A release seen in the telemetry, with no deploy event, is marked as such
// on the index and on its page.
func TestPageMarksObservedReleases(t *testing.T) {
	s, c := newPageClient(t, nil)
	e := event("observed:production:checkout:v1.4.2", release.EventStarted, "v1.4.2", 0, withService("checkout"))
	e.Source = release.SourceObserved
	record(t, s, e, event("deploy-1", release.EventStarted, "v2", time.Minute, withService("cart")))
	index := c.page("/")
	assert.Equal(t, 1, strings.Count(index, "seen in telemetry</span>"), "only the observed release is marked")
	assert.Contains(t, c.page("/releases/observed:production:checkout:v1.4.2"), "seen in telemetry</span>")
	assert.NotContains(t, c.page("/releases/deploy-1"), "seen in telemetry</span>")
}
