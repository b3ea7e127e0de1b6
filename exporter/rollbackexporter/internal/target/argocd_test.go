package target

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// argoCDApplication is testdata/argocd-application.json (an Application as
// GET /api/v1/applications/{name} returns it: history 11, 12 and 13, the
// last deployed now), changed by mutate.
func argoCDApplication(t *testing.T, mutate func(app map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/argocd-application.json")
	require.NoError(t, err)
	var app map[string]any
	require.NoError(t, json.Unmarshal(raw, &app))
	if mutate != nil {
		mutate(app)
	}
	out, err := json.Marshal(app)
	require.NoError(t, err)
	return string(out)
}

func argoCDSyncPolicy(automated map[string]any) func(map[string]any) {
	return func(app map[string]any) {
		app["spec"].(map[string]any)["syncPolicy"].(map[string]any)["automated"] = automated
	}
}

func argoCDTarget(t *testing.T, s *server) Target {
	return makeTarget(t, "argocd", func(c *ArgoCDConfig) {
		c.Server = s.URL + "/"
		c.Token = "argocd-token"
		c.AppNamespace = "argocd-apps"
		c.Project = "{service.namespace}"
		c.Prune = true
	})
}

const argoCDRollbackWant = `{"name":"checkout","id":12,"dryRun":false,"prune":true,"appNamespace":"argocd-apps","project":"shop"}`

func TestArgoCDRollsBackToThePreviousHistoryEntry(t *testing.T) {
	s := newServer(t, 200, argoCDApplication(t, nil), 200, `{"metadata":{"name":"checkout"}}`)
	summary, err := argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "rolled back Argo CD application checkout to history entry 12 (revision 77aa11bb0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e, deployed 2026-11-22T14:30:00Z)", summary)
	got := s.got()
	require.Len(t, got, 2)
	get, post := got[0], got[1]
	assert.Equal(t, "GET", get.Method)
	assert.Equal(t, "/api/v1/applications/checkout", get.Path)
	assert.Equal(t, "appNamespace=argocd-apps", get.Query)
	assert.Equal(t, "Bearer argocd-token", get.Header.Get("Authorization"))
	assert.Empty(t, get.Body)
	assert.Equal(t, "POST", post.Method)
	assert.Equal(t, "/api/v1/applications/checkout/rollback", post.Path)
	assert.Equal(t, "", post.Query)
	assert.Equal(t, "Bearer argocd-token", post.Header.Get("Authorization"))
	assert.Equal(t, "application/json", post.Header.Get("Content-Type"))
	assert.JSONEq(t, argoCDRollbackWant, string(post.Body))
}

func TestArgoCDDefaults(t *testing.T) {
	s := newServer(t, 200, argoCDApplication(t, nil), 200, `{}`)
	tg := makeTarget(t, "argocd", func(c *ArgoCDConfig) { c.Server = s.URL })
	a := testAction()
	a.Decision.Release["service.name"] = "cart/v2"
	ctx, rec := recCtx()
	_, err := tg.Act(ctx, testEnv(false), a)
	require.NoError(t, err)
	got := s.got()
	require.Len(t, got, 2)
	assert.Equal(t, s.URL+"/api/v1/applications/cart%2Fv2", rec.Requests[0].URL, "the name is one escaped path segment")
	assert.Equal(t, "/api/v1/applications/cart/v2", got[0].Path)
	assert.Equal(t, "", got[0].Query)
	assert.Empty(t, got[0].Header.Get("Authorization"), "no token, no header")
	assert.Equal(t, "/api/v1/applications/cart/v2/rollback", got[1].Path)
	assert.JSONEq(t, `{"name":"cart/v2","id":12,"dryRun":false,"prune":false}`, string(got[1].Body))
}

func TestArgoCDRefusesWhileAutoSyncIsOn(t *testing.T) {
	s := newServer(t, 200, argoCDApplication(t, argoCDSyncPolicy(map[string]any{"prune": true, "selfHeal": true})), 200, `{}`)
	_, err := argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent), "retrying cannot turn auto-sync off")
	assert.Contains(t, err.Error(), "Argo CD refuses to roll back checkout while automated sync is on; disable auto-sync")
	got := s.got()
	require.Len(t, got, 1, "no rollback is sent")
	assert.Equal(t, "GET", got[0].Method)

	// "automated": {} is on too; Argo CD 3.1's enabled: false is off.
	s = newServer(t, 200, argoCDApplication(t, argoCDSyncPolicy(map[string]any{})), 200, `{}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	s = newServer(t, 200, argoCDApplication(t, argoCDSyncPolicy(map[string]any{"enabled": false, "prune": true})), 200, `{}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	require.Len(t, s.got(), 2)
	assert.JSONEq(t, argoCDRollbackWant, string(s.got()[1].Body))
}

func TestArgoCDHistoryChoice(t *testing.T) {
	h := func(id int64, rev string) argoCDHistory { return argoCDHistory{ID: argoCDInt(id), Revision: rev} }
	for _, tc := range []struct {
		name    string
		history []argoCDHistory
		syncRev string
		want    int64
	}{
		{"the one before", []argoCDHistory{h(1, "a"), h(2, "b"), h(3, "c")}, "c", 2},
		{"order does not matter", []argoCDHistory{h(3, "c"), h(1, "a"), h(2, "b")}, "c", 2},
		{"re-syncs of the bad revision are skipped", []argoCDHistory{h(1, "a"), h(2, "b"), h(3, "b"), h(4, "b")}, "b", 1},
		{"the newest is what runs, whatever git says", []argoCDHistory{h(1, "a"), h(2, "b"), h(3, "c")}, "d", 2},
		{"the sync revision is skipped too", []argoCDHistory{h(1, "a"), h(2, "d"), h(3, "c")}, "d", 1},
		{"all the same: the second newest", []argoCDHistory{h(1, "a"), h(2, "a")}, "a", 1},
		{"multi-source revisions", []argoCDHistory{{ID: 1, Revisions: []string{"a", "x"}}, {ID: 2, Revisions: []string{"b", "x"}}, {ID: 3, Revisions: []string{"b", "x"}}}, "b,x", 1},
	} {
		got, ok := argoCDRollbackEntry(tc.history, tc.syncRev)
		require.True(t, ok, tc.name)
		assert.Equal(t, tc.want, int64(got.ID), tc.name)
	}
	_, ok := argoCDRollbackEntry([]argoCDHistory{h(1, "a")}, "a")
	assert.False(t, ok)

	// Only one deployment: nothing to roll back to.
	s := newServer(t, 200, argoCDApplication(t, func(app map[string]any) {
		st := app["status"].(map[string]any)
		st["history"] = st["history"].([]any)[2:]
	}), 200, `{}`)
	_, err := argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Argo CD application checkout has 1 history entries: there is no earlier deployment to roll back to")
	assert.Len(t, s.got(), 1)

	// History ids sent as strings (grpc-gateway's int64) are read too.
	s = newServer(t, 200, `{"spec":{},"status":{"sync":{"revision":"c"},"history":[{"id":"4","revision":"a"},{"id":"5","revision":"c"}]}}`, 200, `{}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"checkout","id":4,"dryRun":false,"prune":true,"appNamespace":"argocd-apps","project":"shop"}`, string(s.got()[1].Body))
}

func TestArgoCDErrors(t *testing.T) {
	s := newServer(t, 403, `{"error":"permission denied","code":7,"message":"permission denied"}`)
	_, err := argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "permission denied")
	assert.Len(t, s.got(), 1)

	s = newServer(t, 200, argoCDApplication(t, nil), 500, `{"error":"etcdserver: request timed out","code":14}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "request timed out")

	// Another operation running passes; it is retried.
	s = newServer(t, 200, argoCDApplication(t, nil), 400, `{"error":"another operation is already in progress","code":9,"message":"another operation is already in progress"}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "another operation is already in progress")

	s = newServer(t, 200, argoCDApplication(t, nil), 400, `{"error":"application checkout does not have deployment with id 12","code":3}`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "does not have deployment with id 12")

	s = newServer(t, 200, `<html>login</html>`)
	_, err = argoCDTarget(t, s).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "reading Argo CD application checkout")

	s = newServer(t, 200, argoCDApplication(t, nil))
	tg := makeTarget(t, "argocd", func(c *ArgoCDConfig) { c.Server = s.URL; c.App = "{service.name}-{region}" })
	_, err = tg.Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), `app resolves to "checkout-{region}": the decision does not name it`)
	assert.Empty(t, s.got())
}

func TestArgoCDDryRunLooksUpButDoesNotRollBack(t *testing.T) {
	s := newServer(t, 200, argoCDApplication(t, nil), 200, `{}`)
	ctx, rec := recCtx()
	summary, err := argoCDTarget(t, s).Act(ctx, testEnv(true), testAction())
	require.NoError(t, err)
	assert.Contains(t, summary, "history entry 12")
	got := s.got()
	require.Len(t, got, 1, "the lookup goes through")
	assert.Equal(t, "GET", got[0].Method)
	require.Len(t, rec.Requests, 2)
	assert.Equal(t, "GET", rec.Requests[0].Method)
	assert.Equal(t, 200, rec.Requests[0].Status)
	assert.Equal(t, release.RecordedRequest{Method: "POST", URL: s.URL + "/api/v1/applications/checkout/rollback",
		Headers: map[string]string{"Authorization": "<redacted>", "Content-Type": "application/json"},
		Body:    argoCDRollbackWant}, rec.Requests[1])

	// The auto-sync refusal shows in dry run too.
	s = newServer(t, 200, argoCDApplication(t, argoCDSyncPolicy(map[string]any{"selfHeal": true})))
	ctx, rec = recCtx()
	_, err = argoCDTarget(t, s).Act(ctx, testEnv(true), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Len(t, rec.Requests, 1)
}

func TestArgoCDValidate(t *testing.T) {
	assert.EqualError(t, validateErr("argocd", func(*ArgoCDConfig) {}), "server: required")
	assert.EqualError(t, validateErr("argocd", func(c *ArgoCDConfig) { c.Server = "argocd:443" }), "server: must be an http or https URL")
	assert.EqualError(t, validateErr("argocd", func(c *ArgoCDConfig) { c.Server = "https://argocd"; c.App = "" }), "app: required")
	f, _ := Lookup("argocd")
	assert.Equal(t, "{service.name}", f.NewConfig().(*ArgoCDConfig).App)
	assert.Equal(t, []release.Action{release.ActionRollback}, f.Actions)
}
