package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
)

// layout are the addresses of an agent and a gateway.
type layout struct {
	AgentAPI, AgentOTLP, AgentEvents string
	GatewayAPI, GatewayOTLP          string
	DataDir, HookURL                 string
}

// hooks is the gateway's webhook target: it counts the decisions it gets.
type hooks struct {
	mu        sync.Mutex
	decisions map[string]int
	bodies    []release.Decision
	srv       *http.Server
}

func startHooks(t *testing.T, addr string) *hooks {
	h := &hooks{decisions: map[string]int{}}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d release.Decision
		if json.Unmarshal(body, &d) == nil {
			h.mu.Lock()
			h.decisions[d.DecisionID]++
			h.bodies = append(h.bodies, d)
			h.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Close() })
	return h
}

func (h *hooks) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.decisions[id]
}

func startGateway(t *testing.T, bin string, l layout) *e2etest.Process {
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("gateway.yaml"), l)
	p := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: isolatedEnv(dir)})
	p.RequireReady(startTimeout, "http://"+l.GatewayAPI+"/api/v1/releases")
	p.RequireListening(startTimeout, l.GatewayOTLP)
	return p
}

// TestAgentDetectsGatewayActs runs the agent/gateway layout with two
// collector processes: the agent stamps, detects and forwards its decision
// over OTLP; only the gateway runs the rollback exporter, which carries the
// decision out once on its target and records the outcome in its store.
func TestAgentDetectsGatewayActs(t *testing.T) {
	bin := e2etest.Binary(t)
	l := layout{
		AgentAPI: e2etest.FreeAddr(t), AgentOTLP: e2etest.FreeAddr(t), AgentEvents: e2etest.FreeAddr(t),
		GatewayAPI: e2etest.FreeAddr(t), GatewayOTLP: e2etest.FreeAddr(t), DataDir: t.TempDir(),
	}
	hookAddr := e2etest.FreeAddr(t)
	l.HookURL = "http://" + hookAddr
	h := startHooks(t, hookAddr)
	startGateway(t, bin, l)
	dir := t.TempDir()
	agent := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", e2etest.RenderConfig(t, dir, testdataPath("agent.yaml"), l)}, Env: isolatedEnv(dir)})
	agent.RequireReady(startTimeout, "http://"+l.AgentAPI+"/api/v1/releases")
	agent.RequireListening(startTimeout, l.AgentOTLP, l.AgentEvents)

	c := newCanary(t, "http://"+l.AgentEvents, "http://"+l.AgentOTLP, 7)
	c.stable(8)
	c.post(`{"id":"deploy-gw","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary"}}`)
	const id = "dec-deploy-gw-rollback"
	deadline := time.Now().Add(90 * time.Second)
	for h.count(id) == 0 && time.Now().Before(deadline) {
		c.tick()
	}
	require.Equal(t, 1, h.count(id), "the gateway carried the rollback out once; agent output:\n%s", agent.Tail(40))

	// The gateway knows the decision (its API lists it) and its outcome.
	var view struct {
		Decision *release.Decision        `json:"decision"`
		Outcomes []*release.ActionOutcome `json:"outcomes"`
	}
	require.Eventually(t, func() bool {
		e2etest.Get(t, "http://"+l.GatewayAPI+"/api/v1/decisions/"+id).JSON(t, &view)
		return len(view.Outcomes) > 0
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, "deploy-gw", view.Decision.ReleaseID())
	assert.Equal(t, release.OutcomeDone, view.Outcomes[0].Status)
	assert.Equal(t, "hooks", view.Outcomes[0].Target)
	// The agent has no rollback exporter: it never acted.
	var agentView struct {
		Outcomes []*release.ActionOutcome `json:"outcomes"`
	}
	e2etest.Get(t, "http://"+l.AgentAPI+"/api/v1/decisions/"+id).JSON(t, &agentView)
	assert.Empty(t, agentView.Outcomes)
}

// TestQueuedActionSurvivesKill9: a decision accepted by the gateway while its
// target is down sits in the persistent queue; after kill -9 and a restart,
// with the target back, it is carried out exactly once.
func TestQueuedActionSurvivesKill9(t *testing.T) {
	bin := e2etest.Binary(t)
	l := layout{GatewayAPI: e2etest.FreeAddr(t), GatewayOTLP: e2etest.FreeAddr(t), DataDir: filepath.Join(t.TempDir(), "state")}
	hookAddr := e2etest.FreeAddr(t)
	l.HookURL = "http://" + hookAddr // nothing listens yet: connections are refused
	gw := startGateway(t, bin, l)

	d := &release.Decision{
		DecisionID: "dec-kill9-rollback", Action: release.ActionRollback, Verdict: release.VerdictRegression, Cause: release.CauseEndogenous,
		Confidence: 0.999, DecidedAt: time.Now().UTC().Truncate(time.Second),
		Release:   map[string]string{"deployment.id": "deploy-kill9", "service.name": "checkout", "deployment.environment.name": "production", "service.version": "v2"},
		Evidence:  []release.Evidence{{Signal: "error_rate", Control: 0.01, Candidate: 0.2, Effect: 20, Confidence: 0.999}},
		Rationale: "checkout v2 fails 20% of requests vs 1% for v1.",
	}
	ld := plog.NewLogs()
	require.NoError(t, releaselog.AppendDecision(ld, d))
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	resp := e2etest.Do(t, "POST", "http://"+l.GatewayOTLP+"/v1/logs", body, "Content-Type", "application/x-protobuf")
	require.Equal(t, 200, resp.Status, "the gateway accepted the decision into its persistent queue")
	require.NoError(t, gw.WaitForOutput("Target failed transiently; retrying", 20*time.Second))
	gw.Kill()

	h := startHooks(t, hookAddr)
	startGateway(t, bin, l)
	require.Eventually(t, func() bool { return h.count(d.DecisionID) > 0 }, 30*time.Second, 100*time.Millisecond,
		"the queued decision was carried out after the restart")
	time.Sleep(2 * time.Second) // give a duplicate every chance to show
	assert.Equal(t, 1, h.count(d.DecisionID), "exactly once")
}
