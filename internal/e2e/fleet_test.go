package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// startReplica starts one built collector of a fleet sharing schema, on
// testdata/<tmpl> rendered with data; it returns when addr listens.
func startReplica(t *testing.T, bin, tmpl string, data any, api, addr, dsn, schema, name string) *e2etest.Process {
	t.Helper()
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath(tmpl), data)
	env := append(isolatedEnv(dir), "POSTGRES_DSN="+dsn, "FLEET_SCHEMA="+schema, "REPLICA_NAME="+name)
	proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: env})
	proc.RequireReady(startTimeout, api)
	proc.RequireListening(startTimeout, addr)
	return proc
}

// Three collector processes share one PostgreSQL: a deploy event posted to
// one is answered once stored, and every replica's API serves it.
func TestFleetSharesReleaseState(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := e2etest.Binary(t)
	dsn, schema := testhost.PostgresSchema(t, "e2e_fleet")
	var reps []ports
	for i := range 3 {
		p := newPorts(t)
		startReplica(t, bin, "fleet.yaml", p, p.releasesURL(), p.EventsAddr, dsn, schema, fmt.Sprintf("gw-%d", i))
		reps = append(reps, p)
	}
	id := "deploy-fleet-e2e"
	requireReply(t, e2etest.PostJSON(t, reps[0].events("/v1/events"), nativeEvent(id, "started", "checkout", "v2", "production")), 202,
		accepted(id, id, "in_progress"))
	posted := time.Now()
	for i, p := range reps {
		deadline := time.Now().Add(waitTimeout)
		for {
			if resp := e2etest.Get(t, p.releaseURL(id)); resp.Status == 200 {
				var r apiRelease
				resp.JSON(t, &r)
				require.Equal(t, "checkout", r.Attributes["service.name"], "replica %d", i)
				t.Logf("replica gw-%d serves the release %s after posting", i, time.Since(posted).Round(time.Millisecond))
				break
			}
			require.Truef(t, time.Now().Before(deadline), "replica gw-%d never served release %s", i, id)
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The same delivery to another replica is a duplicate, fleet-wide.
	requireReply(t, e2etest.PostJSON(t, reps[2].events("/v1/events"), nativeEvent(id, "started", "checkout", "v2", "production")), 200, duplicate(id, id))
	// Every replica knows the others.
	var fleet struct {
		Replica   string `json:"replica"`
		Connected bool   `json:"connected"`
		Replicas  []struct {
			Name string `json:"name"`
		} `json:"replicas"`
	}
	e2etest.Get(t, reps[1].api("/api/v1/fleet")).JSON(t, &fleet)
	require.Equal(t, "gw-1", fleet.Replica)
	require.True(t, fleet.Connected)
	names := map[string]bool{}
	for _, r := range fleet.Replicas {
		names[r.Name] = true
	}
	require.Equal(t, map[string]bool{"gw-0": true, "gw-1": true, "gw-2": true}, names)
}

// fleetPorts are the addresses of a detecting replica.
type fleetPorts struct {
	ports
	OTLPAddr string
	HookURL  string
}

// detectingFleet is three built collectors on one PostgreSQL schema
// (testdata/fleet-detect.yaml), each acting through a rollback webhook on
// one real HTTP server, with a canary driver per replica.
type detectingFleet struct {
	reps     []fleetPorts
	procs    []*e2etest.Process
	canaries []*canary

	down map[int]bool // replicas killed by the test

	mu    sync.Mutex
	calls []string // paths of the webhook calls
}

func startDetectingFleet(t *testing.T) *detectingFleet {
	t.Helper()
	bin := e2etest.Binary(t)
	dsn, schema := testhost.PostgresSchema(t, "e2e_fleet")
	f := &detectingFleet{down: map[int]bool{}}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.URL.Path)
		f.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	for i := range 3 {
		p := fleetPorts{ports: newPorts(t), OTLPAddr: e2etest.FreeAddr(t), HookURL: hook.URL}
		f.procs = append(f.procs, startReplica(t, bin, "fleet-detect.yaml", p, p.releasesURL(), p.OTLPAddr, dsn, schema, fmt.Sprintf("gw-%d", i)))
		f.reps = append(f.reps, p)
		f.canaries = append(f.canaries, newCanary(t, "http://"+p.EventsAddr, "http://"+p.OTLPAddr, uint64(40+i)))
	}
	return f
}

func (f *detectingFleet) hookCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Three collectors share one PostgreSQL; a canary's spans are spread round
// robin over them and its deploy event reaches one. The fleet decides the
// regression once, from all three replicas' telemetry, and the webhook is
// called once.
func TestFleetDecidesAndActsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := startDetectingFleet(t)
	f.deploy()
	deployed := time.Now()
	var decided *release.Decision
	for i := 0; decided == nil; i++ {
		require.Less(t, time.Since(deployed), 120*time.Second, "no rollback decision from the fleet")
		f.tick(i, 0.3)
		decided = f.decision(t, (i+1)%3, "rollback")
	}
	t.Logf("the fleet decided %s after the deploy: %s", time.Since(deployed).Round(time.Second), decided.Rationale)
	require.Contains(t, decided.Rationale, "on the telemetry of 3 replicas")
	f.requireOneDecision(t, decided)
	f.requireHookCalls(t, []string{"/decisions/checkout"})
}

// The replica deciding the canary is killed (SIGKILL) as soon as it holds
// the release's lease, long before a verdict: another takes over from the
// statistics it shadowed, and the fleet still decides once and acts once.
func TestFleetSurvivesKillingTheDecidingReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := startDetectingFleet(t)
	f.deploy()
	deployed := time.Now()
	// Kill it mid-evaluation: with 5 s of statistics behind it, 10 s before
	// one collector would decide.
	holder := -1
	for i := 0; holder < 0 || time.Since(deployed) < 5*time.Second; i++ {
		require.Less(t, time.Since(deployed), 60*time.Second, "no replica took the lease of the release")
		f.tick(i, 0.3)
		holder = f.holder()
	}
	require.Nil(t, f.decision(t, (holder+1)%3, ""), "decided before the kill; the test needs a kill mid-evaluation")
	f.procs[holder].Kill()
	killed := time.Now()
	t.Logf("killed gw-%d, which held the lease, %s after the deploy", holder, killed.Sub(deployed).Round(time.Millisecond))
	f.down[holder] = true

	var decided *release.Decision
	for i := 0; decided == nil; i++ {
		require.Less(t, time.Since(deployed), 120*time.Second, "no rollback decision after the kill")
		f.tick(i, 0.3)
		decided = f.decision(t, f.live(i), "rollback")
	}
	t.Logf("decided %s after the deploy (%s after the kill): %s", time.Since(deployed).Round(time.Second),
		time.Since(killed).Round(time.Second), decided.Rationale)
	require.NotContains(t, decided.Rationale, fmt.Sprintf("Decided by fleet replica gw-%d ", holder))
	require.Contains(t, decided.Rationale, "Decided by fleet replica gw-")
	f.requireOneDecision(t, decided)
	f.requireHookCalls(t, []string{"/decisions/checkout"})
}

// A healthy canary (1% errors, as its control) runs for 45 s: the deciding
// replica evaluates it on the whole fleet's telemetry, nothing is decided
// against it and nothing is acted on. (At 40 requests/s a healthy verdict
// needs minutes; the detector need not say "healthy", only never act.)
func TestFleetHealthyReleaseGetsNoAction(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := startDetectingFleet(t)
	f.deploy()
	sent := 0
	for i := range 180 {
		f.tick(i, 0.01)
		sent += 10
	}
	holder := f.holder()
	require.GreaterOrEqual(t, holder, 0, "no replica took the lease of the release")
	var series struct {
		Series []release.SeriesPoint `json:"series"`
	}
	e2etest.Get(t, f.reps[holder].api("/api/v1/releases/deploy-fleet/series")).JSON(t, &series)
	require.NotEmpty(t, series.Series, "gw-%d plots the evaluation it decides", holder)
	last := series.Series[len(series.Series)-1]
	var samples int64
	for _, sp := range last.Signals {
		if sp.Signal == "error_rate" {
			samples = sp.CandidateSamples
		}
	}
	t.Logf("gw-%d evaluates the canary on %d of the %d candidate requests sent to the fleet", holder, samples, sent)
	// Each replica saw a third; the decider counts the fleet's, less what
	// arrived before it took the lease and the last slices not yet merged
	// (1,180 - 1,370 of 1,800 measured, the lower under a full test run's
	// load): more than half shows the merge, a third alone would not.
	require.Greater(t, samples, int64(sent/2), "the deciding replica merges every replica's statistics")

	for r := range f.reps {
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, f.reps[r].api("/api/v1/decisions?release=deploy-fleet")).JSON(t, &got)
		for _, d := range got.Decisions {
			require.Containsf(t, []release.Action{release.ActionNone, release.ActionHold}, d.Action,
				"gw-%d holds a decision against a healthy release: %s", r, d.Rationale)
		}
	}
	time.Sleep(2 * time.Second) // room for a call, were there one
	require.Empty(t, f.hookCalls())
}

// deploy lets v1.4.1 serve alone for three seconds, its traffic spread
// round robin over the replicas, then posts the canary's deploy event to
// gw-0. As on a new user's first day, no deploy event ever announced
// v1.4.1: it only serves.
func (f *detectingFleet) deploy() {
	for i := range 12 {
		f.canaries[i%3].send("v1.4.1", 40, 0.01)
		time.Sleep(250 * time.Millisecond)
	}
	f.canaries[0].post(`{"id":"deploy-fleet","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20}}`)
}

// holder returns the replica that logged taking the canary's lease (not
// another release's), or -1.
func (f *detectingFleet) holder() int {
	for r, p := range f.procs {
		if f.down[r] {
			continue
		}
		for _, line := range strings.Split(p.Output(), "\n") {
			if strings.Contains(line, "This replica now decides the release") && strings.Contains(line, `"deploy-fleet"`) {
				return r
			}
		}
	}
	return -1
}

// live returns the i-th replica still running, round robin.
func (f *detectingFleet) live(i int) int {
	var up []int
	for r := range f.reps {
		if !f.down[r] {
			up = append(up, r)
		}
	}
	return up[i%len(up)]
}

// tick sends a quarter second of both versions' traffic (the canary
// failing candidateErrors of its requests) to the i-th live replica.
func (f *detectingFleet) tick(i int, candidateErrors float64) {
	c := f.canaries[f.live(i)]
	c.send("v1.4.1", 40, 0.01)
	c.send("v1.4.2", 10, candidateErrors)
	time.Sleep(250 * time.Millisecond)
}

// decision returns the canary's first decision (with the action, unless
// empty) that replica r serves, or nil.
func (f *detectingFleet) decision(t *testing.T, r int, action string) *release.Decision {
	var got struct {
		Decisions []*release.Decision `json:"decisions"`
	}
	q := "/api/v1/decisions?release=deploy-fleet"
	if action != "" {
		q += "&action=" + action
	}
	e2etest.Get(t, f.reps[r].api(q)).JSON(t, &got)
	if len(got.Decisions) == 0 {
		return nil
	}
	return got.Decisions[0]
}

// requireOneDecision: every live replica serves that one decision and no
// other for the canary.
func (f *detectingFleet) requireOneDecision(t *testing.T, want *release.Decision) {
	t.Helper()
	for r, p := range f.reps {
		if f.down[r] {
			continue
		}
		var got struct {
			Decisions []*release.Decision `json:"decisions"`
		}
		e2etest.Get(t, p.api("/api/v1/decisions?release=deploy-fleet")).JSON(t, &got)
		ids := map[string]bool{}
		for _, d := range got.Decisions {
			ids[d.DecisionID] = true
		}
		require.Equalf(t, map[string]bool{want.DecisionID: true}, ids, "replica gw-%d", r)
	}
}

// requireHookCalls waits for the webhook's first call, leaves room for
// more, and requires exactly the calls wanted.
func (f *detectingFleet) requireHookCalls(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(f.hookCalls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // room for a second call, were there one
	require.Equal(t, want, f.hookCalls())
}

// The fleet's PostgreSQL is stopped and started again under three running
// collectors, as in a database restart or failover: while it is down,
// spans are still stamped from the last known state, reads are served,
// a deploy event answers 503 and is not half-stored, and detection holds
// and says so; once it is back, every replica reconnects on its own, the
// event re-sent is stored and served by all, and nothing stored before is
// lost.
func TestFleetRidesOutAStoreRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := e2etest.Binary(t)
	pg := testhost.StartPostgres(t)
	var reps []fleetPorts
	var procs []*e2etest.Process
	var canaries []*canary
	for i := range 3 {
		p := fleetPorts{ports: newPorts(t), OTLPAddr: e2etest.FreeAddr(t)}
		procs = append(procs, startReplica(t, bin, "fleet-restart.yaml", p, p.releasesURL(), p.OTLPAddr, pg.DSN(), "fleet", fmt.Sprintf("gw-%d", i)))
		reps = append(reps, p)
		canaries = append(canaries, newCanary(t, "http://"+p.EventsAddr, "http://"+p.OTLPAddr, uint64(60+i)))
	}
	canaries[0].post(`{"id":"deploy-before","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20}}`)
	for i := range reps {
		requireServed(t, reps[i], "deploy-before", i)
	}
	// stamped counts the spans replica i printed stamped with the canary's
	// release; traffic sends a second of both versions to every replica.
	stamped := func(i int) int { return strings.Count(procs[i].Output(), "deployment.id: Str(deploy-before)") }
	traffic := func() {
		for range 4 {
			for _, c := range canaries {
				c.send("v1.4.1", 20, 0.01)
				c.send("v1.4.2", 5, 0.01)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	traffic()
	before := make([]int, len(reps))
	for i := range reps {
		waitFor(t, func() bool { return stamped(i) > 0 }, "gw-%d stamps the canary's spans", i)
		before[i] = stamped(i)
	}

	pg.Stop()
	stopped := time.Now()
	resp := e2etest.PostJSON(t, reps[1].events("/v1/events"), nativeEvent("deploy-during", "started", "cart", "v9", "production"))
	require.Equal(t, 503, resp.Status, "a deploy event while the store is down: %s", resp.Body)
	require.Contains(t, string(resp.Body), "nothing was stored, retry later")
	require.Equal(t, 200, e2etest.Get(t, reps[2].releaseURL("deploy-before")).Status, "reads go on")
	traffic()
	for i := range reps {
		waitFor(t, func() bool { return stamped(i) > before[i] }, "gw-%d stamps spans while the store is down", i)
		waitFor(t, func() bool { return strings.Contains(procs[i].Output(), "Detection holds") }, "gw-%d says detection holds", i)
	}
	// Down for longer than a lease (5 s), so that leases lapse too.
	time.Sleep(time.Until(stopped.Add(7 * time.Second)))
	t.Logf("PostgreSQL down for %s: spans stamped, reads served, deploy events refused with 503, detection held",
		time.Since(stopped).Round(100*time.Millisecond))

	pg.Start()
	restarted := time.Now()
	for i := range reps {
		waitFor(t, func() bool {
			var st struct {
				Connected bool `json:"connected"`
			}
			e2etest.Get(t, reps[i].api("/api/v1/fleet")).JSON(t, &st)
			return st.Connected
		}, "gw-%d reconnects", i)
		// (The API says connected after two quiet heartbeats, 4 s.)
		t.Logf("gw-%d reports connected %s after the restart", i, time.Since(restarted).Round(100*time.Millisecond))
		require.Equal(t, 404, e2etest.Get(t, reps[i].releaseURL("deploy-during")).Status, "the refused event was not half-stored")
	}
	requireReply(t, e2etest.PostJSON(t, reps[1].events("/v1/events"), nativeEvent("deploy-during", "started", "cart", "v9", "production")), 202,
		accepted("deploy-during", "deploy-during", "in_progress"))
	for i := range reps {
		requireServed(t, reps[i], "deploy-during", i)
		requireServed(t, reps[i], "deploy-before", i)
	}
	traffic()
	for i := range reps {
		waitFor(t, func() bool { return strings.Contains(procs[i].Output(), "Detection resumes") }, "gw-%d says detection resumes", i)
	}
}

// requireServed waits until replica i's API serves the release.
func requireServed(t *testing.T, p fleetPorts, id string, i int) {
	t.Helper()
	waitFor(t, func() bool { return e2etest.Get(t, p.releaseURL(id)).Status == 200 }, "gw-%d serves release %s", i, id)
}

// waitFor polls cond until it holds, failing after waitTimeout.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	require.Eventuallyf(t, cond, waitTimeout, 100*time.Millisecond, format, args...)
}
