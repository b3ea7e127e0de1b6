package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
)

// TestFlagOffInRealUnleash sends a flag_off decision through the built
// collector and reads the flag back from a real Unleash as off. .ci/run
// starts Unleash (on PostgreSQL) and sets UNLEASH_URL and UNLEASH_TOKEN;
// by hand: `exports=$(bash .ci/unleash.sh) && eval "$exports"`.
func TestFlagOffInRealUnleash(t *testing.T) {
	url, token := os.Getenv("UNLEASH_URL"), os.Getenv("UNLEASH_TOKEN")
	if url == "" {
		t.Skip("UNLEASH_URL is not set; start Unleash with: exports=$(bash .ci/unleash.sh) && eval \"$exports\"")
	}
	bin := e2etest.Binary(t)
	auth := []string{"Authorization", token, "Content-Type", "application/json"}
	flag := fmt.Sprintf("e2e-pricing-%d", time.Now().UnixNano())
	resp := e2etest.Do(t, "POST", url+"/api/admin/projects/default/features", []byte(`{"name":"`+flag+`"}`), auth...)
	require.Equalf(t, 201, resp.Status, "creating the flag: %s", resp.Body)
	resp = e2etest.Do(t, "POST", url+"/api/admin/projects/default/features/"+flag+"/environments/production/on", nil, auth...)
	require.Equalf(t, 200, resp.Status, "enabling the flag: %s", resp.Body)
	require.True(t, flagEnabled(t, url, flag, auth), "the flag starts on in production")

	data := struct {
		layout
		UnleashURL, UnleashToken string
	}{layout{GatewayAPI: e2etest.FreeAddr(t), GatewayOTLP: e2etest.FreeAddr(t), DataDir: filepath.Join(t.TempDir(), "state")}, url, token}
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("unleash.yaml"), data)
	p := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: isolatedEnv(dir)})
	p.RequireReady(startTimeout, "http://"+data.GatewayAPI+"/api/v1/releases")
	// Receivers start after extensions: the API answering does not mean
	// OTLP is listening yet.
	p.RequireListening(startTimeout, data.GatewayOTLP)

	d := &release.Decision{
		DecisionID: "dec-unleash-flag_off", Action: release.ActionFlagOff, Verdict: release.VerdictRegression, Cause: release.CauseEndogenous,
		Confidence: 0.999, DecidedAt: time.Now().UTC().Truncate(time.Second),
		Release: map[string]string{"deployment.id": "deploy-unleash", "service.name": "checkout", "deployment.environment.name": "production",
			"service.version": "v2", release.DecisionFeatureFlags: flag + "=on"},
		Evidence:  []release.Evidence{{Signal: "error_rate", Control: 0.01, Candidate: 0.08, Effect: 8, Confidence: 0.999}},
		Rationale: "checkout v2 fails 8% of requests vs 1% for v1 since the new pricing flag.",
	}
	ld := plog.NewLogs()
	require.NoError(t, releaselog.AppendDecision(ld, d))
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	resp = e2etest.Do(t, "POST", "http://"+data.GatewayOTLP+"/v1/logs", body, "Content-Type", "application/x-protobuf")
	require.Equal(t, 200, resp.Status)

	require.Eventually(t, func() bool { return !flagEnabled(t, url, flag, auth) }, 30*time.Second, 200*time.Millisecond,
		"Unleash shows the flag off in production; collector output:\n%s", p.Tail(40))
}

func flagEnabled(t *testing.T, url, flag string, auth []string) bool {
	var f struct {
		Environments []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"environments"`
	}
	e2etest.Get(t, url+"/api/admin/projects/default/features/"+flag, auth...).JSON(t, &f)
	for _, env := range f.Environments {
		if env.Name == "production" {
			return env.Enabled
		}
	}
	t.Fatalf("flag %s has no production environment", flag)
	return false
}
