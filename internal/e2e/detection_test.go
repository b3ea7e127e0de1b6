package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// spanBatch builds one OTLP export of a version's server spans; failing
// spans answer HTTP 503 and their trace ids are remembered.
func spanBatch(r *rand.Rand, version string, n int, errorRate float64, failed map[string]bool) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", "checkout")
	attrs.PutStr("service.namespace", "shop")
	attrs.PutStr("service.version", version)
	attrs.PutStr("deployment.environment.name", "production")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		for j := range tid {
			tid[j] = byte(r.IntN(256))
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		sp.SetName("POST /cart/checkout")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-40 * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		code := 200
		if r.Float64() < errorRate {
			code = 503
			failed[tid.String()] = true
		}
		sp.Attributes().PutInt("http.response.status_code", int64(code))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return body
}

// canary drives the regression several tests share: shop/checkout's stable
// v1.4.1 serves alone for a while, then a v1.4.2 canary fails 30% of its
// requests against 1% (10 and 40 requests every quarter second).
type canary struct {
	t            *testing.T
	events, otlp string // base URLs of the release-metadata receiver and OTLP/HTTP
	r            *rand.Rand
	// failed holds the trace ids of the failing spans sent.
	failed map[string]bool
}

func newCanary(t *testing.T, events, otlp string, seed uint64) *canary {
	return &canary{t: t, events: events, otlp: otlp, r: rand.New(rand.NewPCG(seed, seed)), failed: map[string]bool{}}
}

// post sends a native deploy event; it must be accepted.
func (c *canary) post(doc string) {
	c.t.Helper()
	resp := e2etest.PostJSON(c.t, c.events+"/v1/events", []byte(doc))
	require.Equalf(c.t, 202, resp.Status, "answer: %s", resp.Body)
}

func (c *canary) send(version string, n int, errorRate float64) {
	c.t.Helper()
	resp := e2etest.Do(c.t, "POST", c.otlp+"/v1/traces", spanBatch(c.r, version, n, errorRate, c.failed),
		"Content-Type", "application/x-protobuf")
	require.Equalf(c.t, 200, resp.Status, "OTLP export answered: %s", resp.Body)
}

// stable announces v1.4.1 as live and lets it serve alone for n quarter
// seconds, so that its traffic is known before the canary starts.
func (c *canary) stable(n int) {
	c.post(`{"id":"checkout-v1","type":"succeeded","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.1","deployment.environment.name":"production"}}`)
	for i := 0; i < n; i++ {
		c.send("v1.4.1", 40, 0.01)
		time.Sleep(250 * time.Millisecond)
	}
}

// tick sends a quarter second of both versions' traffic.
func (c *canary) tick() {
	c.send("v1.4.1", 40, 0.01)
	c.send("v1.4.2", 10, 0.3)
	time.Sleep(250 * time.Millisecond)
}

// startNoFlags runs the built binary with no flags (the embedded default
// config, on its fixed ports) and a fresh data directory.
func startNoFlags(t *testing.T) *e2etest.Process {
	t.Helper()
	bin := e2etest.Binary(t)
	e2etest.RequirePortsFree(t, 4317, 4318, 8088, 8089, 13133, 8888)
	p := e2etest.Start(t, bin, e2etest.Options{Env: []string{
		"OTELCOL_RELEASE_DATA_DIR=" + filepath.Join(t.TempDir(), "state"), "HOME=" + t.TempDir(), "XDG_STATE_HOME=",
	}})
	p.RequireReady(startTimeout, "http://localhost:13133/", "http://localhost:8089/api/v1/decisions")
	return p
}

// TestCanaryRegressionIsDecided runs the product's main promise end to end
// on the embedded default config: a canary is announced, control and
// candidate spans stream in over OTLP, and within seconds a decision with
// its evidence appears in the API and in the logs pipeline.
func TestCanaryRegressionIsDecided(t *testing.T) {
	p := startNoFlags(t)

	c := newCanary(t, "http://localhost:8088", "http://localhost:4318", 42)
	c.stable(12)
	c.post(`{"id":"deploy-4711","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production","vcs.ref.head.revision":"9f2c1e7"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20}}`)
	deployed := time.Now()

	var decision *release.Decision
	deadline := time.Now().Add(90 * time.Second)
	for decision == nil && time.Now().Before(deadline) {
		c.tick()
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, "http://localhost:8089/api/v1/decisions?release=deploy-4711&action=rollback").JSON(t, &got)
		if len(got.Decisions) > 0 {
			decision = got.Decisions[0]
		}
	}
	require.NotNil(t, decision, "no rollback decision within 90 s; output:\n%s", p.Tail(60))
	took := time.Since(deployed)
	t.Logf("decided %s after the deploy: %s", took.Round(time.Second), decision.Rationale)

	assert.Equal(t, "dec-deploy-4711-rollback", decision.DecisionID)
	assert.Equal(t, release.VerdictRegression, decision.Verdict)
	assert.Equal(t, release.CauseEndogenous, decision.Cause)
	assert.GreaterOrEqual(t, decision.Confidence, 0.99)
	assert.Equal(t, map[string]string{
		"deployment.id": "deploy-4711", "service.name": "checkout", "service.namespace": "shop",
		"deployment.environment.name": "production", "service.version": "v1.4.2", "previous_version": "v1.4.1",
	}, decision.Release)
	require.NotEmpty(t, decision.Evidence)
	e := decision.Evidence[0]
	assert.Equal(t, "error_rate", e.Signal)
	assert.Greater(t, e.Candidate, 0.15)
	assert.Less(t, e.Control, 0.05)
	assert.GreaterOrEqual(t, e.Samples.Candidate, int64(100))
	assert.GreaterOrEqual(t, e.Samples.Control, int64(100))
	require.NotEmpty(t, e.Exemplars)
	for _, id := range e.Exemplars {
		assert.True(t, c.failed[id], "exemplar %s is a trace id of a failing span that was sent", id)
	}
	assert.Contains(t, decision.Rationale, "shop/checkout v1.4.2 fails")
	assert.Contains(t, decision.Rationale, "for v1.4.1")
	assert.Less(t, took, 60*time.Second)

	// The decision also went down the logs pipeline as release.decision.
	require.NoError(t, p.WaitForOutput("dec-deploy-4711-rollback", 10*time.Second))
	out := p.Output()
	assert.Contains(t, out, "EventName: release.decision")
	assert.True(t, strings.Contains(out, "release.decision.action: Str(rollback)"), "decision attributes in the output")

	// The rollback exporter (dry run in the default config) recorded
	// exactly what it would have sent to the example webhook.
	var view struct {
		Decision *release.Decision        `json:"decision"`
		Outcomes []*release.ActionOutcome `json:"outcomes"`
	}
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		e2etest.Get(t, "http://localhost:8089/api/v1/decisions/dec-deploy-4711-rollback").JSON(t, &view)
		if len(view.Outcomes) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Len(t, view.Outcomes, 1, "one outcome for the one target")
	o := view.Outcomes[0]
	assert.Equal(t, release.OutcomeDryRun, o.Status)
	assert.Equal(t, "example-webhook", o.Target)
	require.Len(t, o.Requests, 1)
	assert.Equal(t, "POST", o.Requests[0].Method)
	assert.Equal(t, "http://localhost:9999/decisions/checkout", o.Requests[0].URL)
	var sent release.Decision
	require.NoError(t, json.Unmarshal([]byte(o.Requests[0].Body), &sent))
	assert.Equal(t, decision.DecisionID, sent.DecisionID)
	assert.Equal(t, decision.Rationale, sent.Rationale)
	require.NoError(t, p.WaitForOutput("EventName: release.action", 10*time.Second))
}

// TestFirstDeployIsDecided is the first contact of a new user, on the
// embedded default config with no flags: services already send telemetry,
// the collector has never seen a deploy event, and the first one announces
// a canary of v1.4.2 replacing v1.4.1 (which the collector never saw
// deployed). v1.4.1 serves 400 requests/s with 1% errors next to v1.4.2's
// 45 requests/s with 6%: the canary must be rolled back.
func TestFirstDeployIsDecided(t *testing.T) {
	p := startNoFlags(t)

	c := newCanary(t, "http://localhost:8088", "http://localhost:4318", 8)
	// Telemetry flows before anything is known about releases.
	for i := 0; i < 20; i++ {
		c.send("v1.4.1", 100, 0.01)
		time.Sleep(250 * time.Millisecond)
	}
	c.post(`{"id":"deploy-4711","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"prod"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":10}}`)
	deployed := time.Now()

	var decision *release.Decision
	deadline := time.Now().Add(150 * time.Second)
	for i := 0; decision == nil && time.Now().Before(deadline); i++ {
		c.send("v1.4.1", 100, 0.01)
		// 45 requests/s: 11 or 12 per quarter second.
		c.send("v1.4.2", 11+i%4/3, 0.06)
		time.Sleep(250 * time.Millisecond)
		if i%4 != 3 {
			continue
		}
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, "http://localhost:8089/api/v1/decisions?release=deploy-4711&action=rollback").JSON(t, &got)
		if len(got.Decisions) > 0 {
			decision = got.Decisions[0]
		}
	}
	require.NotNil(t, decision, "no rollback decision within 150 s; output:\n%s", p.Tail(60))
	t.Logf("decided %s after the first deploy event: %s", time.Since(deployed).Round(time.Second), decision.Rationale)
	assert.Equal(t, release.CauseEndogenous, decision.Cause)
	assert.Equal(t, "v1.4.1", decision.Release["previous_version"])
	require.NotEmpty(t, decision.Evidence)
	assert.Equal(t, "error_rate", decision.Evidence[0].Signal)
	assert.GreaterOrEqual(t, decision.Evidence[0].Samples.Control, int64(1000), "v1.4.1, never deployed through the collector, is the control")
	assert.Contains(t, decision.Rationale, "for v1.4.1")

	// Nothing else was decided: v1.4.2's telemetry after its deploy event
	// is not taken for an implicit release.
	var all struct {
		Decisions []*release.Decision `json:"decisions"`
	}
	e2etest.Get(t, "http://localhost:8089/api/v1/decisions").JSON(t, &all)
	for _, d := range all.Decisions {
		assert.Equal(t, "deploy-4711", d.ReleaseID(), "unexpected decision: %s", d.Rationale)
	}
}

// TestImplicitReleaseOnTheDefaultConfig: a team with no deploy webhook at
// all. On the no-flags binary, v1.4.1 serves, then v1.4.2 appears in the
// telemetry failing 20% of its requests; it is recorded as an observed
// release and rolled back, and the decision says where it came from.
func TestImplicitReleaseOnTheDefaultConfig(t *testing.T) {
	p := startNoFlags(t)
	c := newCanary(t, "http://localhost:8088", "http://localhost:4318", 5)
	for i := 0; i < 40; i++ {
		c.send("v1.4.1", 40, 0.01)
		time.Sleep(250 * time.Millisecond)
	}
	const id = "observed:production:shop.checkout:v1.4.2"
	var decision *release.Decision
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; decision == nil && time.Now().Before(deadline); i++ {
		c.tick()
		if i%4 != 3 {
			continue
		}
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, "http://localhost:8089/api/v1/decisions?action=rollback").JSON(t, &got)
		if len(got.Decisions) > 0 {
			decision = got.Decisions[0]
		}
	}
	require.NotNil(t, decision, "no rollback within 90 s; output:\n%s", p.Tail(60))
	assert.Equal(t, id, decision.ReleaseID())
	assert.Equal(t, release.SourceObserved, decision.Release["source"])
	assert.Equal(t, "v1.4.1", decision.Release["previous_version"])
	assert.Contains(t, decision.Rationale, "seen in the telemetry without a deploy event")
	var rel release.Release
	e2etest.Get(t, "http://localhost:8089/api/v1/releases/"+id).JSON(t, &rel)
	assert.Equal(t, release.SourceObserved, rel.Source)
	assert.Equal(t, "v1.4.1", rel.Release.PreviousVersion)
	require.NoError(t, p.WaitForOutput(id, 10*time.Second), "announced as a release.deployment record")
}
