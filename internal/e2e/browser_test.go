package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// chromium returns $CHROMIUM, or skips the test saying how to get it.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		t.Skip("browser test: set CHROMIUM to a Chromium executable; on Debian: exports=$(bash .ci/chromium.sh) && eval \"$exports\"")
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Skipf("browser test: CHROMIUM=%q is not an executable; on Debian: exports=$(bash .ci/chromium.sh) && eval \"$exports\"", p)
	}
	return p
}

// browserConfig derives a config from the embedded default one: free
// ports, no own metrics, decisions in production wait for approval, and
// exemplars link to a (local, example) Jaeger.
type browserAddrs struct{ grpc, http, events, api, health string }

func browserConfig(t *testing.T, a browserAddrs) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e2etest.MustModuleRoot(t), "cmd", "otelcol-release", "default-config.yaml"))
	require.NoError(t, err)
	cfg := string(raw)
	replace := func(old, repl string) {
		t.Helper()
		require.Containsf(t, cfg, old, "the default config has changed: %q is gone", old)
		cfg = strings.ReplaceAll(cfg, old, repl)
	}
	replace("localhost:4317", a.grpc)
	replace("localhost:4318", a.http)
	replace("localhost:8088", a.events)
	replace("localhost:8089", a.api)
	replace("localhost:13133", a.health)
	replace("\n    storage: file_storage/release\n",
		"\n    storage: file_storage/release\n    trace_url_template: http://localhost:16686/trace/{trace_id}\n")
	replace("\n    dry_run: true\n", "\n    dry_run: true\n    require_approval: [production]\n")
	replace("\nservice:\n", "\nservice:\n  telemetry:\n    metrics:\n      level: none\n")
	return cfg
}

// TestOperatorPageInABrowser drives headless Chromium against the built
// binary: a canary regresses, the operator finds it on the index, reads
// the rationale on the release's page, approves the rollback and sees the
// action's outcome appear. It writes screenshots of the three views to
// docs/screenshots when UPDATE_SCREENSHOTS=1.
func TestOperatorPageInABrowser(t *testing.T) {
	chrome := chromium(t)
	bin := e2etest.Binary(t)
	a := browserAddrs{grpc: e2etest.FreeAddr(t), http: e2etest.FreeAddr(t), events: e2etest.FreeAddr(t), api: e2etest.FreeAddr(t), health: e2etest.FreeAddr(t)}
	dir := t.TempDir()
	cfgPath := e2etest.WriteFile(t, dir, "config.yaml", []byte(browserConfig(t, a)))
	p := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfgPath}, Env: isolatedEnv(dir)})
	api := "http://" + a.api
	p.RequireReady(startTimeout, api+"/api/v1/decisions")
	p.RequireListening(startTimeout, a.events, a.http)

	// The regression, exactly as in TestCanaryRegressionIsDecided.
	c := newCanary(t, "http://"+a.events, "http://"+a.http, 42)
	c.stable(12)
	c.post(`{"id":"deploy-4711","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production","vcs.ref.head.revision":"9f2c1e7"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20,
	  "intent":"move cart pricing to the new engine","risk":"high","owner":"team-payments"}}`)
	const decisionID = "dec-deploy-4711-rollback"
	var decided bool
	deadline := time.Now().Add(90 * time.Second)
	for !decided && time.Now().Before(deadline) {
		c.tick()
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, api+"/api/v1/decisions?release=deploy-4711&action=rollback").JSON(t, &got)
		decided = len(got.Decisions) > 0
	}
	require.True(t, decided, "no rollback decision within 90 s; output:\n%s", p.Tail(60))
	// The rollback exporter holds it for approval (require_approval).
	var view struct {
		Pending  bool                     `json:"pending_approval"`
		Outcomes []*release.ActionOutcome `json:"outcomes"`
	}
	// Traffic goes on for a while, so that the plots have a few points
	// after the decision too.
	more := time.Now().Add(12 * time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for (!view.Pending || time.Now().Before(more)) && time.Now().Before(deadline) {
		c.tick()
		e2etest.Get(t, api+"/api/v1/decisions/"+decisionID).JSON(t, &view)
	}
	require.True(t, view.Pending, "the decision waits for approval; outcomes %+v", view.Outcomes)

	shots := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		shots = filepath.Join(e2etest.MustModuleRoot(t), "docs", "screenshots")
		require.NoError(t, os.MkdirAll(shots, 0o755))
	}
	screenshot := func(name string, buf []byte) {
		t.Helper()
		require.NotEmpty(t, buf)
		path := filepath.Join(shots, name)
		require.NoError(t, os.WriteFile(path, buf, 0o644))
		t.Logf("screenshot %s (%d bytes)", path, len(buf))
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	// The first Run starts the browser and must not carry a timeout.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate("about:blank")), "starting %s", chrome)
	ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
	defer cancel()
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		screenshot(name, buf)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoErrorf(t, err, "text of %s", sel)
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
		require.NoErrorf(t, err, "counting %s", sel)
		return n
	}

	// The index: find the regressed release.
	row := `tr.release[data-release-id="deploy-4711"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(api+"/"),
		chromedp.WaitVisible(chromedp.CSS(row)),
	), "output:\n%s", p.Tail(40))
	state, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(row), "data-state"))
	require.NoError(t, err)
	assert.Equal(t, "regression", state.Value)
	shot("index.png")

	// Its page: read the rationale.
	decision := `li.decision[data-decision-id="` + decisionID + `"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+` a.release-link`)),
		chromedp.WaitVisible(chromedp.CSS(decision+` p.rationale`)),
		chromedp.WaitVisible(chromedp.CSS(`figure.plot[data-signal="error_rate"] svg`)),
	))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	rationale := text(decision + ` p.rationale`)
	t.Logf("page %q, rationale: %s", title, rationale)
	assert.Contains(t, title, "shop/checkout v1.4.2")
	assert.Contains(t, rationale, "shop/checkout v1.4.2 fails")
	assert.Contains(t, rationale, "v1.4.1")
	assert.Positive(t, count(decision+` .exemplars a.trace[href^="http://localhost:16686/trace/"]`), "exemplars link to the trace UI")
	shot("release.png")

	// Approve, and see the action's outcome appear.
	approve := decision + ` button[data-review="approve"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#actor`), "browser-test"),
		chromedp.Click(chromedp.CSS(approve)),
	))
	acted := decision + ` li.outcome[data-status="dry_run"], ` + decision + ` li.outcome[data-status="done"]`
	n := 0
	deadline = time.Now().Add(30 * time.Second)
	for n == 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(api+"/releases/deploy-4711"),
			chromedp.WaitReady(chromedp.CSS(`footer`)),
		))
		n = count(acted)
	}
	require.Positivef(t, n, "no dry_run/done outcome on the page after approval (page error %q); output:\n%s", text(`#review-error`), p.Tail(40))
	assert.Contains(t, text(decision+` .reviewed`), "approved by browser-test")
	assert.Contains(t, text(acted), "example-webhook")
	assert.Zero(t, count(approve), "the approve button is gone once answered")
	require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(decision))))
	shot("approved.png")

	// The API agrees with the page.
	e2etest.Get(t, api+"/api/v1/decisions/"+decisionID).JSON(t, &view)
	assert.False(t, view.Pending)
	var statuses []release.OutcomeStatus
	for _, o := range view.Outcomes {
		statuses = append(statuses, o.Status)
	}
	assert.Contains(t, statuses, release.OutcomeDryRun)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
