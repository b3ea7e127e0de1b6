package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// startReplica starts one built collector of a fleet sharing schema.
func startReplica(t *testing.T, bin, dsn, schema, name string) ports {
	t.Helper()
	p := newPorts(t)
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("fleet.yaml"), p)
	env := append(isolatedEnv(dir), "POSTGRES_DSN="+dsn, "FLEET_SCHEMA="+schema, "REPLICA_NAME="+name)
	proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: env})
	proc.RequireReady(startTimeout, p.releasesURL())
	proc.RequireListening(startTimeout, p.EventsAddr)
	return p
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
		reps = append(reps, startReplica(t, bin, dsn, schema, fmt.Sprintf("gw-%d", i)))
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
