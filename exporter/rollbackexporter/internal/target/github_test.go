package target

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// githubAction is a decision about a release the github source recorded.
func githubAction() Action {
	a := testAction()
	a.Decision.Release["deployment.id"] = "github-42"
	a.Release.ID = "github-42"
	a.Release.Attributes["vcs.repository.url.full"] = "https://github.com/acme/checkout.git"
	a.Release.Attributes["vcs.ref.head.name"] = "release/1.4"
	return a
}

func assertGitHubHeaders(t *testing.T, r captured) {
	t.Helper()
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "Bearer ghs_token", r.Header.Get("Authorization"))
	assert.Equal(t, "application/vnd.github+json", r.Header.Get("Accept"))
	assert.Equal(t, "2022-11-28", r.Header.Get("X-GitHub-Api-Version"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "", r.Query)
}

func TestGitHubSetsAFailureDeploymentStatus(t *testing.T) {
	s := newServer(t, 201, `{"id":1,"state":"failure"}`)
	tg := makeTarget(t, "github", func(c *GitHubConfig) {
		c.APIURL = s.URL
		c.Token = "ghs_token"
	})
	summary, err := tg.Act(context.Background(), testEnv(false), githubAction())
	require.NoError(t, err)
	assert.Equal(t, "set deployment 42 of acme/checkout to failure", summary)
	got := s.got()
	require.Len(t, got, 1)
	assertGitHubHeaders(t, got[0])
	assert.Equal(t, "/repos/acme/checkout/deployments/42/statuses", got[0].Path)
	assert.JSONEq(t, `{
		"state": "failure",
		"description": "rollback: shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.",
		"log_url": "http://localhost:8089/releases/github-42"
	}`, string(got[0].Body))
}

func TestGitHubTemplatesAndWorkflowDispatch(t *testing.T) {
	s := newServer(t, 201, `{"id":1}`, 204, ``)
	tg := makeTarget(t, "github", func(c *GitHubConfig) {
		c.APIURL = s.URL + "/api/v3/"
		c.Token = "ghs_token"
		c.Repository = "acme-{deployment.environment.name}/{service.name}"
		c.DeploymentID = "{deployment.id}"
		c.EnvironmentURL = "https://{service.name}.example.com"
		c.Workflow = &GitHubWorkflowConfig{File: "rollback.yml", Inputs: map[string]string{
			"service": "{service.name}", "to_version": "{previous_version}", "reason": "decision {nope}",
		}}
	})
	a := testAction()
	a.Decision.Release["deployment.id"] = "7"
	summary, err := tg.Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	assert.Equal(t, "set deployment 7 of acme-production/checkout to failure; dispatched workflow rollback.yml of acme-production/checkout on main", summary)
	got := s.got()
	require.Len(t, got, 2)
	assertGitHubHeaders(t, got[0])
	assert.Equal(t, "/api/v3/repos/acme-production/checkout/deployments/7/statuses", got[0].Path)
	assert.JSONEq(t, `{
		"state": "failure",
		"description": "rollback: shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.",
		"log_url": "http://localhost:8089/releases/7",
		"environment_url": "https://checkout.example.com"
	}`, string(got[0].Body))
	assertGitHubHeaders(t, got[1])
	assert.Equal(t, "/api/v3/repos/acme-production/checkout/actions/workflows/rollback.yml/dispatches", got[1].Path)
	// No vcs.ref.head.name on the release: main.
	assert.JSONEq(t, `{"ref": "main", "inputs": {"service": "checkout", "to_version": "v1.4.1", "reason": "decision {nope}"}}`, string(got[1].Body))

	// The release's branch is the default ref; a configured ref wins.
	s = newServer(t, 201, `{}`, 204, ``)
	cfg := &GitHubConfig{APIURL: s.URL, Token: "ghs_token", Workflow: &GitHubWorkflowConfig{File: "1234"}}
	tg, err = mustFactoryNew("github", cfg)
	require.NoError(t, err)
	_, err = tg.Act(context.Background(), testEnv(false), githubAction())
	require.NoError(t, err)
	assert.Equal(t, "/repos/acme/checkout/actions/workflows/1234/dispatches", s.got()[1].Path)
	assert.JSONEq(t, `{"ref": "release/1.4"}`, string(s.got()[1].Body))
	cfg.Workflow.Ref = "deploy/{deployment.environment.name}"
	_, err = tg.Act(context.Background(), testEnv(false), githubAction())
	require.NoError(t, err)
	assert.JSONEq(t, `{"ref": "deploy/production"}`, string(s.got()[3].Body))
}

func mustFactoryNew(typ string, cfg any) (Target, error) {
	f, _ := Lookup(typ)
	if err := cfg.(interface{ Validate() error }).Validate(); err != nil {
		return nil, err
	}
	return f.New(cfg)
}

func TestGitHubDescriptionIsTruncated(t *testing.T) {
	s := newServer(t, 201, `{}`)
	tg := makeTarget(t, "github", func(c *GitHubConfig) { c.APIURL = s.URL; c.Token = "ghs_token" })
	a := githubAction()
	a.Decision.Rationale = strings.Repeat("é", 200)
	_, err := tg.Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	var st githubStatus
	require.NoError(t, jsonUnmarshal(s.got()[0].Body, &st))
	assert.Equal(t, 140, utf8.RuneCountInString(st.Description))
	assert.Equal(t, "rollback: "+strings.Repeat("é", 129)+"…", st.Description)
}

func TestGitHubNeedsADeploymentIDAndARepository(t *testing.T) {
	s := newServer(t, 201, `{}`)
	tg := makeTarget(t, "github", func(c *GitHubConfig) { c.APIURL = s.URL; c.Token = "ghs_token" })
	// deploy-4711 is not a GitHub deployment and deployment_id is not set.
	_, err := tg.Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), `deployment.id "deploy-4711" is not of the form github-<n>`)
	assert.Contains(t, err.Error(), "deployment_id is not set")

	tg = makeTarget(t, "github", func(c *GitHubConfig) {
		c.APIURL = s.URL
		c.Token = "ghs_token"
		c.DeploymentID = "{cicd.pipeline.run.id}"
	})
	_, err = tg.Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), `deployment_id "{cicd.pipeline.run.id}" resolves to "{cicd.pipeline.run.id}", which is not a number`)

	// No repository: neither configured nor known from the release.
	tg = makeTarget(t, "github", func(c *GitHubConfig) { c.APIURL = s.URL; c.Token = "ghs_token" })
	a := githubAction()
	a.Release = nil
	_, err = tg.Act(context.Background(), testEnv(false), a)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "no GitHub repository: set repository (owner/repo) or send vcs.repository.url.full")
	a = githubAction()
	a.Release.Attributes["vcs.repository.url.full"] = "https://gitlab.com/group/sub/project"
	_, err = tg.Act(context.Background(), testEnv(false), a)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Empty(t, s.got(), "nothing was sent")
}

func TestGitHubErrors(t *testing.T) {
	s := newServer(t, 422, `{"message":"Validation Failed","errors":[{"resource":"DeploymentStatus","code":"custom","message":"description is too long"}]}`)
	tg := makeTarget(t, "github", func(c *GitHubConfig) { c.APIURL = s.URL; c.Token = "ghs_token" })
	_, err := tg.Act(context.Background(), testEnv(false), githubAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Validation Failed")

	s = newServer(t, 502, `Server Error`)
	tg = makeTarget(t, "github", func(c *GitHubConfig) { c.APIURL = s.URL; c.Token = "ghs_token" })
	_, err = tg.Act(context.Background(), testEnv(false), githubAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))

	// A failed dispatch says the status was set.
	s = newServer(t, 201, `{}`, 404, `{"message":"Not Found"}`)
	tg = makeTarget(t, "github", func(c *GitHubConfig) {
		c.APIURL = s.URL
		c.Token = "ghs_token"
		c.Workflow = &GitHubWorkflowConfig{File: "nope.yml"}
	})
	_, err = tg.Act(context.Background(), testEnv(false), githubAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Not Found")
	assert.Contains(t, err.Error(), "the failure status of deployment 42 was already set")
}

func TestGitHubDryRunRecordsBothRequests(t *testing.T) {
	s := newServer(t, 201, `{}`)
	tg := makeTarget(t, "github", func(c *GitHubConfig) {
		c.APIURL = s.URL
		c.Token = "ghs_token"
		c.Workflow = &GitHubWorkflowConfig{File: "rollback.yml", Ref: "main", Inputs: map[string]string{"version": "{previous_version}"}}
	})
	ctx, rec := recCtx()
	_, err := tg.Act(ctx, testEnv(true), githubAction())
	require.NoError(t, err)
	assert.Empty(t, s.got(), "nothing is sent in dry run")
	headers := map[string]string{"Authorization": "<redacted>", "Accept": "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28", "Content-Type": "application/json"}
	require.Len(t, rec.Requests, 2)
	assert.Equal(t, release.RecordedRequest{Method: "POST", URL: s.URL + "/repos/acme/checkout/deployments/42/statuses", Headers: headers,
		Body: `{"state":"failure","description":"rollback: shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.","log_url":"http://localhost:8089/releases/github-42"}`},
		rec.Requests[0])
	assert.Equal(t, release.RecordedRequest{Method: "POST", URL: s.URL + "/repos/acme/checkout/actions/workflows/rollback.yml/dispatches", Headers: headers,
		Body: `{"ref":"main","inputs":{"version":"v1.4.1"}}`}, rec.Requests[1])
}

func TestGitHubRepoFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/acme/checkout":      "acme/checkout",
		"https://github.com/acme/checkout.git":  "acme/checkout",
		"https://github.com/acme/checkout/":     "acme/checkout",
		"git@github.com:acme/checkout.git":      "acme/checkout",
		"ssh://git@github.com/acme/checkout":    "acme/checkout",
		"https://ghe.corp/acme/check.out-2_x":   "acme/check.out-2_x",
		"https://github.com/acme":               "",
		"https://gitlab.com/group/sub/project":  "",
		"github.com/acme/checkout":              "",
		"https://github.com/acme/checkout/tree": "",
	} {
		got, ok := GitHubRepoFromURL(in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, want != "", ok, in)
	}
}

func TestGitHubValidate(t *testing.T) {
	assert.EqualError(t, validateErr("github", func(*GitHubConfig) {}), "token: required")
	assert.EqualError(t, validateErr("github", func(c *GitHubConfig) { c.Token = "t"; c.APIURL = "" }), "api_url: required")
	assert.EqualError(t, validateErr("github", func(c *GitHubConfig) { c.Token = "t"; c.APIURL = "api.github.com" }), "api_url: must be an http or https URL")
	assert.EqualError(t, validateErr("github", func(c *GitHubConfig) { c.Token = "t"; c.Repository = "checkout" }), `repository: "checkout" is not of the form owner/repo`)
	assert.NoError(t, validateErr("github", func(c *GitHubConfig) { c.Token = "t"; c.Repository = "acme/{service.name}" }))
	assert.EqualError(t, validateErr("github", func(c *GitHubConfig) { c.Token = "t"; c.Workflow = &GitHubWorkflowConfig{} }), "workflow.file: required when workflow is set")
}
