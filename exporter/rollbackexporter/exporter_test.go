package rollbackexporter

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/target"
	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// hookServer is a webhook target: it answers with the scripted statuses
// (the last one repeats) and counts what it received.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	script []int
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	h := &hookServer{script: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.bodies)
		status := 200
		if len(h.script) > 0 {
			status = h.script[min(n, len(h.script)-1)]
		}
		h.bodies = append(h.bodies, body)
		h.heads = append(h.heads, r.Header.Clone())
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func (h *hookServer) successes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i := range h.bodies {
		if len(h.script) == 0 || h.script[min(i, len(h.script)-1)] < 300 {
			n++
		}
	}
	return n
}

type env struct {
	store    releasestoreextension.Store
	host     component.Host
	tel      *componenttest.Telemetry
	outcomes chan release.ActionOutcome
}

// startEnv runs a release store (in memory, or on file_storage in dir).
func startEnv(t *testing.T, dir string) *env { return startEnvWith(t, dir, nil) }

// startEnvWith runs a release store configured by mutate.
func startEnvWith(t *testing.T, dir string, mutate func(*releasestoreextension.Config)) *env {
	ctx := context.Background()
	exts := map[component.ID]component.Component{}
	var fsID component.ID
	if dir != "" {
		ff := filestorage.NewFactory()
		fcfg := ff.CreateDefaultConfig().(*filestorage.Config)
		fcfg.Directory = dir
		fs, err := ff.Create(ctx, extensiontest.NewNopSettings(ff.Type()), fcfg)
		require.NoError(t, err)
		require.NoError(t, fs.Start(ctx, componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, fs.Shutdown(ctx)) })
		fsID = component.NewID(ff.Type())
		exts[fsID] = fs
	}
	sf := releasestoreextension.NewFactory()
	scfg := sf.CreateDefaultConfig().(*releasestoreextension.Config)
	scfg.NetAddr.Endpoint = testhost.FreeEndpoint(t)
	if mutate != nil {
		mutate(scfg)
	}
	st, err := sf.Create(ctx, extensiontest.NewNopSettings(sf.Type()), scfg)
	require.NoError(t, err)
	require.NoError(t, st.Start(ctx, testhost.New(exts)))
	t.Cleanup(func() { require.NoError(t, st.Shutdown(ctx)) })
	exts[component.NewID(sf.Type())] = st
	e := &env{store: st.(releasestoreextension.Store), host: testhost.New(exts), tel: componenttest.NewTelemetry(), outcomes: make(chan release.ActionOutcome, 100)}
	t.Cleanup(func() { require.NoError(t, e.tel.Shutdown(ctx)) })
	unsub := e.store.Subscribe(releasestoreextension.Subscriber{OnOutcome: func(o release.ActionOutcome) { e.outcomes <- o }})
	t.Cleanup(unsub)
	return e
}

func webhookTarget(name, endpoint string, actions ...release.Action) TargetConfig {
	f, _ := target.Lookup("webhook")
	wh := f.NewConfig().(*target.WebhookConfig)
	wh.Endpoint = endpoint
	return TargetConfig{Name: name, Type: "webhook", Settings: wh, Match: MatchConfig{Actions: actions}}
}

func (e *env) exporter(t *testing.T, mutate func(*Config)) exporter.Logs {
	cfg := createDefaultConfig().(*Config)
	cfg.QueueConfig = configoptional.None[exporterQueueConfig]()
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 20 * time.Second
	cfg.Timeout = 2 * time.Second
	mutate(cfg)
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	// A stable id, as in a collector: the ledger's file is named after it.
	set.ID = component.NewID(Type)
	set.TelemetrySettings = e.tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), e.host))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

var decided = time.Date(2026, 11, 24, 10, 0, 40, 0, time.UTC)

func decision(id, releaseID, env string, action release.Action) *release.Decision {
	return &release.Decision{
		DecisionID: id, Action: action, Verdict: release.VerdictRegression, Cause: release.CauseEndogenous,
		Confidence: 0.995, DecidedAt: decided,
		Release: map[string]string{release.AttrDeploymentID: releaseID, release.AttrServiceName: "checkout",
			release.AttrDeploymentEnvironment: env, release.AttrServiceVersion: "v1.4.2"},
		Evidence:  []release.Evidence{{Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.995}},
		Rationale: "checkout v1.4.2 fails 5.2% of requests vs 1.1%",
	}
}

func logsOf(t *testing.T, ds ...*release.Decision) plog.Logs {
	ld := plog.NewLogs()
	for _, d := range ds {
		require.NoError(t, releaselog.AppendDecision(ld, d))
	}
	// And a record that is not a decision.
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("GET /cart 200")
	return ld
}

func (e *env) next(t *testing.T) release.ActionOutcome {
	t.Helper()
	select {
	case o := <-e.outcomes:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome recorded")
		return release.ActionOutcome{}
	}
}

func counter(t *testing.T, tel *componenttest.Telemetry, name string, keys ...string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		k := ""
		for i, key := range keys {
			v, _ := dp.Attributes.Value(attributeKey(key))
			if i > 0 {
				k += "/"
			}
			k += v.AsString()
		}
		out[k] += dp.Value
	}
	return out
}

func TestOnceAcrossDuplicates(t *testing.T) {
	e := startEnv(t, "")
	hook := newHookServer(t)
	exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL)} })
	d := decision("dec-1", "deploy-1", "production", release.ActionRollback)
	for i := 0; i < 3; i++ {
		require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
	}
	o := e.next(t)
	assert.Equal(t, release.OutcomeDone, o.Status)
	assert.Equal(t, 1, hook.count(), "the same decision delivered three times gives one action")
	var sent release.Decision
	require.NoError(t, json.Unmarshal(hook.bodies[0], &sent))
	assert.Equal(t, *d, sent, "the webhook body is the decision document")
	require.Len(t, o.Requests, 1)
	assert.Equal(t, "POST", o.Requests[0].Method)
	assert.Equal(t, 200, o.Requests[0].Status)

	// Another decision for the same release and action is not carried out
	// again on the same target.
	d2 := decision("dec-1-again", "deploy-1", "production", release.ActionRollback)
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d2)))
	o = e.next(t)
	assert.Equal(t, release.OutcomeSkipped, o.Status)
	assert.Contains(t, o.Detail, "already rollback on hooks for release deploy-1 by decision dec-1")
	assert.Equal(t, 1, hook.count())

	assert.Equal(t, map[string]int64{"hooks/rollback/done": 1, "hooks/rollback/skipped": 1},
		counter(t, e.tel, "otelcol.rollback.actions", "target", "action", "outcome"))
	assert.Equal(t, map[string]int64{"not_a_decision": 4}, counter(t, e.tel, "otelcol.rollback.records.ignored", "reason"))
}

func TestDryRunRecordsTheBodyAndSendsNothing(t *testing.T) {
	e := startEnv(t, "")
	hook := newHookServer(t)
	exp := e.exporter(t, func(c *Config) {
		c.DryRun = true
		c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL+"/{service.name}")}
	})
	d := decision("dec-dry", "deploy-2", "production", release.ActionRollback)
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
	o := e.next(t)
	assert.Equal(t, release.OutcomeDryRun, o.Status)
	assert.Zero(t, hook.count())
	require.Len(t, o.Requests, 1)
	assert.Equal(t, hook.URL+"/checkout", o.Requests[0].URL)
	var body release.Decision
	require.NoError(t, json.Unmarshal([]byte(o.Requests[0].Body), &body))
	assert.Equal(t, *d, body, "dry run records exactly the body that would be sent")
}

func TestTransientFailuresThenOnce(t *testing.T) {
	e := startEnv(t, "")
	hook := newHookServer(t, 500, 503, 502, 200)
	exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL)} })
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, decision("dec-t", "deploy-3", "production", release.ActionRollback))))
	o := e.next(t)
	assert.Equal(t, release.OutcomeDone, o.Status)
	assert.Equal(t, 4, o.Attempts)
	assert.Equal(t, 1, hook.successes(), "exactly one action reached the target once it recovered")
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	e := startEnv(t, "")
	hook := newHookServer(t, 400)
	exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL)} })
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, decision("dec-p", "deploy-4", "production", release.ActionRollback))))
	o := e.next(t)
	assert.Equal(t, release.OutcomeFailed, o.Status)
	assert.Equal(t, 1, o.Attempts)
	assert.Equal(t, 1, hook.count())
	assert.Contains(t, o.Detail, "400")
}

func TestRefusedConnectionThenRecovery(t *testing.T) {
	e := startEnv(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	var got atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got.Add(1) })}
	defer srv.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			_ = srv.Serve(ln)
		}
	}()
	exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hooks", "http://"+addr)} })
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, decision("dec-r", "deploy-5", "production", release.ActionRollback))))
	o := e.next(t)
	assert.Equal(t, release.OutcomeDone, o.Status)
	assert.Greater(t, o.Attempts, 1)
	assert.Equal(t, int32(1), got.Load())
}

func TestApprovalAndDismissal(t *testing.T) {
	e := startEnv(t, "")
	hook := newHookServer(t)
	exp := e.exporter(t, func(c *Config) {
		c.RequireApproval = []string{"prod*"}
		c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL)}
	})
	ctx := context.Background()
	for _, id := range []string{"dec-a", "dec-b"} {
		d := decision(id, "deploy-"+id, "production", release.ActionRollback)
		_, err := e.store.PublishDecision(ctx, d)
		require.NoError(t, err)
		require.NoError(t, exp.ConsumeLogs(ctx, logsOf(t, d)))
		o := e.next(t)
		assert.Equal(t, release.OutcomePending, o.Status)
		assert.Contains(t, o.Detail, "waiting for approval")
	}
	assert.Zero(t, hook.count(), "nothing is carried out before approval")

	_, err := e.store.Review(ctx, release.Review{DecisionID: "dec-a", Approved: true, Actor: "alice", At: decided})
	require.NoError(t, err)
	o := e.next(t)
	assert.Equal(t, release.OutcomeDone, o.Status)
	assert.Equal(t, "alice", o.Actor)
	assert.Equal(t, 1, hook.count())

	_, err = e.store.Review(ctx, release.Review{DecisionID: "dec-b", Approved: false, Actor: "bob", At: decided})
	require.NoError(t, err)
	o = e.next(t)
	assert.Equal(t, release.OutcomeDismissed, o.Status)
	assert.Equal(t, 1, hook.count())
	// A second answer is refused: the decision no longer waits.
	_, err = e.store.Review(ctx, release.Review{DecisionID: "dec-b", Approved: true})
	assert.ErrorIs(t, err, releasestoreextension.ErrNotPending)
	// Re-delivery of a decided decision changes nothing.
	require.NoError(t, exp.ConsumeLogs(ctx, logsOf(t, decision("dec-a", "deploy-dec-a", "production", release.ActionRollback))))
	assert.Equal(t, 1, hook.count())
}

func TestBrakeTurnsActionsIntoNotifications(t *testing.T) {
	e := startEnv(t, "")
	rollbacks := newHookServer(t)
	chat := newHookServer(t)
	exp := e.exporter(t, func(c *Config) {
		c.MaxActions = BrakeConfig{Count: 2, Per: time.Hour}
		c.Targets = []TargetConfig{
			webhookTarget("rollouts", rollbacks.URL, release.ActionRollback),
			webhookTarget("chat", chat.URL, release.ActionNotify),
		}
	})
	ctx := context.Background()
	var ds []*release.Decision
	for i := 0; i < 5; i++ {
		ds = append(ds, decision("dec-burst-"+string(rune('a'+i)), "deploy-burst-"+string(rune('a'+i)), "production", release.ActionRollback))
	}
	require.NoError(t, exp.ConsumeLogs(ctx, logsOf(t, ds...)))
	assert.Equal(t, 2, rollbacks.count(), "the brake holds at max_actions")
	assert.Equal(t, 3, chat.count(), "beyond it, decisions notify instead")
	var notified release.Decision
	require.NoError(t, json.Unmarshal(chat.bodies[0], &notified))
	assert.Equal(t, release.ActionNotify, notified.Action)
	assert.Equal(t, map[string]int64{"production": 3}, counter(t, e.tel, "otelcol.rollback.brake.engaged", "environment"))
	actions := counter(t, e.tel, "otelcol.rollback.actions", "target", "outcome")
	assert.Equal(t, int64(2), actions["rollouts/done"])
	assert.Equal(t, int64(3), actions["rollouts/skipped"])
	assert.Equal(t, int64(3), actions["chat/done"])
}

func TestLedgerSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	hook := newHookServer(t)
	d := decision("dec-persist", "deploy-p", "production", release.ActionRollback)
	for run := 0; run < 2; run++ {
		func() {
			e := startEnv(t, dir)
			fs := component.MustNewID("file_storage")
			exp := e.exporter(t, func(c *Config) {
				c.Storage = &fs
				c.Targets = []TargetConfig{webhookTarget("hooks", hook.URL)}
			})
			require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
			require.NoError(t, exp.Shutdown(context.Background()))
		}()
	}
	assert.Equal(t, 1, hook.count(), "a decision re-delivered after a restart is not carried out again")
}

// TestSlowTargetGetsOneActionPerIdempotencyKey: a target slower than the
// timeout is retried; every attempt carries the same idempotency key, so the
// target applies the action once, and the outcome is done.
func TestSlowTargetGetsOneActionPerIdempotencyKey(t *testing.T) {
	e := startEnv(t, "")
	var mu sync.Mutex
	keys := map[string]int{}
	applied := 0
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			time.Sleep(700 * time.Millisecond) // slower than the timeout
		}
		mu.Lock()
		defer mu.Unlock()
		k := r.Header.Get("Idempotency-Key")
		if keys[k] == 0 {
			applied++
		}
		keys[k]++
	}))
	defer srv.Close()
	exp := e.exporter(t, func(c *Config) {
		c.Timeout = 200 * time.Millisecond
		c.Targets = []TargetConfig{webhookTarget("hooks", srv.URL)}
	})
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, decision("dec-slow", "deploy-slow", "production", release.ActionRollback))))
	o := e.next(t)
	assert.Equal(t, release.OutcomeDone, o.Status)
	assert.Equal(t, 3, o.Attempts)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, keys, 1, "every attempt carried the same idempotency key")
	assert.Equal(t, 1, applied)
	time.Sleep(800 * time.Millisecond) // let the slow handlers finish before the server closes
}
