package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// TestKill9Restart acknowledges 50 deploy events, kills the collector with
// SIGKILL, restarts it on the same config and data directory, and finds
// every acknowledged release, and the de-duplication window, again.
func TestKill9Restart(t *testing.T) {
	bin := e2etest.Binary(t)
	p := newPorts(t)
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("persist.yaml"), p)
	start := func() *e2etest.Process {
		proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: isolatedEnv(dir), Args: []string{"--config", cfg}})
		proc.RequireReady(startTimeout, p.releasesURL())
		proc.RequireListening(startTimeout, p.EventsAddr)
		return proc
	}

	// One service per event so that no release supersedes another; the
	// types cycle through the four a new release can start with.
	const n = 50
	types := []struct{ typ, status string }{
		{"started", "in_progress"}, {"succeeded", "succeeded"}, {"failed", "failed"}, {"rolled_back", "rolled_back"},
	}
	type sent struct{ id, service, version, status string }
	var events []sent
	bodies := map[string][]byte{}
	for i := range n {
		e := sent{id: fmt.Sprintf("kill9-%02d", i), service: fmt.Sprintf("svc-%02d", i), version: fmt.Sprintf("v1.%d.0", i), status: types[i%4].status}
		events = append(events, e)
		bodies[e.id] = nativeEvent(e.id, types[i%4].typ, e.service, e.version, "production")
	}

	first := start()
	for _, e := range events {
		requireReply(t, e2etest.PostJSON(t, p.events("/v1/events"), bodies[e.id]), 202, accepted(e.id, e.id, e.status))
	}
	first.Kill()
	require.Equal(t, -1, first.ExitCode(), "the first process was killed by SIGKILL")
	require.False(t, e2etest.Listening(p.APIAddr), "the API still answers after kill -9")

	second := start()
	list := listReleases(t, p.releasesURL()+"?limit=100")
	require.Equal(t, n, list.Total, "releases after kill -9 and restart")
	got := map[string]apiRelease{}
	for _, r := range list.Releases {
		got[r.ID] = r
	}
	for _, e := range events {
		r, ok := got[e.id]
		if !assert.Truef(t, ok, "release %s lost in the restart", e.id) {
			continue
		}
		assert.Equalf(t, e.status, r.Status, "status of %s", e.id)
		assert.Equalf(t, identity{e.service, "", e.version, "production"}, identity{
			r.Attributes["service.name"], r.Attributes["service.namespace"], r.Attributes["service.version"], r.Attributes["deployment.environment.name"],
		}, "identity of %s", e.id)
		assert.Equalf(t, "native", r.Source, "source of %s", e.id)
	}
	for _, tt := range types {
		assert.Equalf(t, n/4+boolInt(tt.status == "in_progress" || tt.status == "succeeded"),
			listReleases(t, p.releasesURL()+"?status="+tt.status).Total, "releases %s", tt.status)
	}

	// The de-duplication window survived too.
	requireReply(t, e2etest.PostJSON(t, p.events("/v1/events"), bodies["kill9-07"]), 200, duplicate("kill9-07", "kill9-07"))
	require.Len(t, getRelease(t, p.releaseURL("kill9-07")).Events, 1)
	// And the restarted store takes new events.
	requireReply(t, e2etest.PostJSON(t, p.events("/v1/events"), nativeEvent("kill9-new", "started", "svc-new", "v9", "production")), 202,
		accepted("kill9-new", "kill9-new", "in_progress"))
	require.Equal(t, n+1, listReleases(t, p.releasesURL()+"?limit=100").Total)
	require.NoError(t, second.Stop())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
