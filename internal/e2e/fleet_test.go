package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
func startReplica(t *testing.T, bin, tmpl string, data any, api, addr, dsn, schema, name string) {
	t.Helper()
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath(tmpl), data)
	env := append(isolatedEnv(dir), "POSTGRES_DSN="+dsn, "FLEET_SCHEMA="+schema, "REPLICA_NAME="+name)
	proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: env})
	proc.RequireReady(startTimeout, api)
	proc.RequireListening(startTimeout, addr)
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

// Three collectors share one PostgreSQL; a canary's spans are spread round
// robin over them and its deploy event reaches one. The fleet decides the
// regression once, from all three replicas' telemetry, and the webhook is
// called once.
func TestFleetDecidesAndActsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := e2etest.Binary(t)
	dsn, schema := testhost.PostgresSchema(t, "e2e_fleet")
	var hookMu sync.Mutex
	var hookCalls []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookMu.Lock()
		hookCalls = append(hookCalls, r.URL.Path)
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	var reps []fleetPorts
	var canaries []*canary
	for i := range 3 {
		p := fleetPorts{ports: newPorts(t), OTLPAddr: e2etest.FreeAddr(t), HookURL: hook.URL}
		startReplica(t, bin, "fleet-detect.yaml", p, p.releasesURL(), p.OTLPAddr, dsn, schema, fmt.Sprintf("gw-%d", i))
		reps = append(reps, p)
		canaries = append(canaries, newCanary(t, "http://"+p.EventsAddr, "http://"+p.OTLPAddr, uint64(40+i)))
	}
	// As on a new user's first day, no deploy event ever announced v1.4.1:
	// it only serves. The canary's event reaches replica 0; each quarter
	// second one replica gets the traffic, in turn.
	for i := range 12 {
		canaries[i%3].send("v1.4.1", 40, 0.01)
		time.Sleep(250 * time.Millisecond)
	}
	canaries[0].post(`{"id":"deploy-fleet","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20}}`)
	deployed := time.Now()
	type decisions struct {
		Decisions []*release.Decision `json:"decisions"`
	}
	var decided *release.Decision
	for i := 0; decided == nil; i++ {
		require.Less(t, time.Since(deployed), 120*time.Second, "no rollback decision from the fleet")
		canaries[i%3].tick()
		var got decisions
		e2etest.Get(t, reps[(i+1)%3].api("/api/v1/decisions?release=deploy-fleet&action=rollback")).JSON(t, &got)
		if len(got.Decisions) > 0 {
			decided = got.Decisions[0]
		}
	}
	t.Logf("the fleet decided %s after the deploy: %s", time.Since(deployed).Round(time.Second), decided.Rationale)
	require.Contains(t, decided.Rationale, "on the telemetry of 3 replicas")
	// Every replica holds the one decision.
	for i, p := range reps {
		var got decisions
		e2etest.Get(t, p.api("/api/v1/decisions?release=deploy-fleet")).JSON(t, &got)
		ids := map[string]bool{}
		for _, d := range got.Decisions {
			ids[d.DecisionID] = true
		}
		require.Equalf(t, map[string]bool{decided.DecisionID: true}, ids, "replica gw-%d", i)
	}
	// One webhook call, though every replica's exporter was handed it.
	deadline := time.Now().Add(waitTimeout)
	for {
		hookMu.Lock()
		n := len(hookCalls)
		hookMu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // room for a second call, were there one
	hookMu.Lock()
	defer hookMu.Unlock()
	require.Equal(t, []string{"/decisions/checkout"}, hookCalls)
}
