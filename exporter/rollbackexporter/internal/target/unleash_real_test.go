package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// unleashAdmin talks to a real Unleash's admin API, for setting up and
// reading back what the target did.
type unleashAdmin struct {
	t     *testing.T
	url   string
	token string
}

func (u unleashAdmin) call(method, path string, body any) (int, []byte) {
	u.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(u.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.url+path, r)
	require.NoError(u.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u.token != "" {
		req.Header.Set("Authorization", u.token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(u.t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// enabled reads a flag back and returns, per environment, whether it is on.
func (u unleashAdmin) enabled(flag string) map[string]bool {
	u.t.Helper()
	status, answer := u.call("GET", "/api/admin/projects/default/features/"+flag, nil)
	require.Equal(u.t, 200, status, string(answer))
	var f struct {
		Environments []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"environments"`
	}
	require.NoError(u.t, json.Unmarshal(answer, &f))
	out := map[string]bool{}
	for _, e := range f.Environments {
		out[e.Name] = e.Enabled
	}
	return out
}

// TestUnleashReal turns a flag off in a real Unleash (unleash-server from
// npm on PostgreSQL): the flag is created and enabled in production through
// the admin API, the target acts on a flag_off decision for a release that
// names it, and the flag is read back off.
func TestUnleashReal(t *testing.T) {
	endpoint := os.Getenv("UNLEASH_URL")
	if endpoint == "" {
		t.Skip(`UNLEASH_URL is not set: start a real Unleash with  eval "$(bash .ci/unleash.sh)"  ` +
			`(PostgreSQL and unleash-server@8.2.0 on loopback; it exports UNLEASH_URL and UNLEASH_TOKEN), then run the test again`)
	}
	admin := unleashAdmin{t: t, url: strings.TrimRight(endpoint, "/"), token: os.Getenv("UNLEASH_TOKEN")}
	flag := fmt.Sprintf("otelcol-release-test-%d", time.Now().UnixNano())

	status, answer := admin.call("POST", "/api/admin/projects/default/features", map[string]any{"name": flag, "type": "release"})
	require.Contains(t, []int{200, 201}, status, "creating the flag: %s", answer)
	t.Cleanup(func() {
		admin.call("POST", "/api/admin/projects/default/archive", map[string]any{"features": []string{flag}})
	})
	status, answer = admin.call("POST", "/api/admin/projects/default/features/"+flag+"/environments/production/on", nil)
	require.Equal(t, 200, status, "enabling the flag: %s", answer)
	require.True(t, admin.enabled(flag)["production"], "the flag is on in production before the decision")

	a := flagOffAction()
	a.Release.Release.FeatureFlags = []release.FeatureFlag{{Key: flag, Variant: "on"}}
	tg := flagTarget(t, "unleash", func(c *UnleashConfig) {
		c.Endpoint = endpoint
		c.Token = configopaque.String(admin.token)
	})
	rec := &Recorder{}
	env := testEnv(false)
	summary, err := tg.Act(WithRecorder(context.Background(), rec), env, a)
	require.NoError(t, err)
	assert.Equal(t, "turned off "+flag+" in Unleash environment production (project default)", summary)
	require.Len(t, rec.Requests, 1)
	assert.Equal(t, 200, rec.Requests[0].Status)

	after := admin.enabled(flag)
	require.Contains(t, after, "production")
	assert.False(t, after["production"], "Unleash has the flag off in production")

	// A retry of the same action is harmless: Unleash accepts it again.
	_, err = tg.Act(context.Background(), env, a)
	require.NoError(t, err)
	assert.False(t, admin.enabled(flag)["production"])

	// A flag Unleash does not know is a permanent failure quoting Unleash.
	a.Release.Release.FeatureFlags = []release.FeatureFlag{{Key: flag + "-missing"}}
	_, err = tg.Act(context.Background(), env, a)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent), err.Error())
	assert.Contains(t, err.Error(), flag+"-missing")
}
