package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type: "github",
		// A notification is not a failed deployment: only actions that stop
		// the release mark it failed, unless match::actions says otherwise.
		Actions:   []release.Action{release.ActionRollback, release.ActionPause},
		NewConfig: func() any { return &GitHubConfig{ClientConfig: clientDefaults(""), APIURL: "https://api.github.com"} },
		New:       func(cfg any) (Target, error) { return &github{cfg: cfg.(*GitHubConfig)}, nil },
	})
}

// GitHubConfig configures the GitHub target: a failure deployment status,
// and optionally a workflow dispatch.
type GitHubConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: tls, proxy_url, timeout, headers,
	// auth, compression... Its endpoint is not used: the URL is api_url.
	confighttp.ClientConfig `mapstructure:",squash"`

	// APIURL is the REST API's base URL (https://HOST/api/v3 for GitHub
	// Enterprise Server).
	APIURL string `mapstructure:"api_url"`
	// Token is a token allowed to write deployments (and, with a workflow,
	// actions): a fine-grained token or an installation token.
	Token configopaque.String `mapstructure:"token"`
	// Repository is "owner/repo"; {attribute} placeholders are resolved from
	// the decision. Empty: parsed from the release's vcs.repository.url.full.
	Repository string `mapstructure:"repository"`
	// DeploymentID is the GitHub deployment's numeric id (a template, such
	// as "{deployment.id}"). Empty: taken from a deployment.id of the form
	// github-<n>, as the receiver's github source records it.
	DeploymentID string `mapstructure:"deployment_id"`
	// EnvironmentURL is set on the status when not empty (a template).
	EnvironmentURL string `mapstructure:"environment_url"`
	// Workflow, when set, is dispatched after the status is written.
	Workflow *GitHubWorkflowConfig `mapstructure:"workflow"`
}

// GitHubWorkflowConfig is a workflow to dispatch (on: workflow_dispatch).
type GitHubWorkflowConfig struct {
	// File is the workflow's file name (rollback.yml) or numeric id.
	File string `mapstructure:"file"`
	// Ref is the branch or tag to run it on (a template). Empty: the
	// release's vcs.ref.head.name, else "main".
	Ref string `mapstructure:"ref"`
	// Inputs are the workflow's inputs (templates).
	Inputs map[string]string `mapstructure:"inputs"`
}

var githubRepoName = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// HTTPClientConfig implements ClientSettings.
func (c *GitHubConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *GitHubConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, "api_url"); err != nil {
		return err
	}
	if c.APIURL == "" {
		return errors.New("api_url: required")
	}
	if !isHTTPURL(c.APIURL) {
		return errors.New("api_url: must be an http or https URL")
	}
	if c.Token == "" {
		return errors.New("token: required")
	}
	if c.Repository != "" && !strings.Contains(c.Repository, "{") && !githubRepoName.MatchString(c.Repository) {
		return fmt.Errorf("repository: %q is not of the form owner/repo", c.Repository)
	}
	if c.Workflow != nil && c.Workflow.File == "" {
		return errors.New("workflow.file: required when workflow is set")
	}
	return nil
}

type github struct{ cfg *GitHubConfig }

// githubDescriptionMax is GitHub's limit on a status description.
const githubDescriptionMax = 140

type githubStatus struct {
	State          string `json:"state"`
	Description    string `json:"description"`
	LogURL         string `json:"log_url,omitempty"`
	EnvironmentURL string `json:"environment_url,omitempty"`
}

type githubDispatch struct {
	Ref    string            `json:"ref"`
	Inputs map[string]string `json:"inputs,omitempty"`
}

func (g *github) Act(ctx context.Context, env Env, a Action) (string, error) {
	repo, err := g.repository(a)
	if err != nil {
		return "", err
	}
	id, err := g.deploymentID(a)
	if err != nil {
		return "", err
	}
	base := strings.TrimRight(g.cfg.APIURL, "/") + "/repos/" + repo
	headers := map[string]string{
		"Authorization":        "Bearer " + string(g.cfg.Token),
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": "2022-11-28",
	}
	d := a.Decision
	status := githubStatus{
		State:          "failure",
		Description:    msgEllipsize(string(d.Action)+": "+d.Rationale, githubDescriptionMax),
		LogURL:         msgOperatorLink(env, a),
		EnvironmentURL: Expand(g.cfg.EnvironmentURL, a),
	}
	if d.Rationale == "" {
		status.Description = msgEllipsize(msgHeadline(a), githubDescriptionMax)
	}
	if _, _, err := Do(ctx, env.HTTP, http.MethodPost, base+"/deployments/"+id+"/statuses", headers, status); err != nil {
		return "", err
	}
	summary := "set deployment " + id + " of " + repo + " to failure"
	if w := g.cfg.Workflow; w != nil {
		ref := Expand(w.Ref, a)
		if ref == "" && a.Release != nil {
			ref = a.Release.Attributes[release.AttrVCSRefName]
		}
		if ref == "" {
			ref = "main"
		}
		dispatch := githubDispatch{Ref: ref}
		if len(w.Inputs) > 0 {
			dispatch.Inputs = make(map[string]string, len(w.Inputs))
			for k, v := range w.Inputs {
				dispatch.Inputs[k] = Expand(v, a)
			}
		}
		endpoint := base + "/actions/workflows/" + url.PathEscape(w.File) + "/dispatches"
		if _, _, err := Do(ctx, env.HTTP, http.MethodPost, endpoint, headers, dispatch); err != nil {
			return "", fmt.Errorf("%w (the failure status of deployment %s was already set)", err, id)
		}
		summary += "; dispatched workflow " + w.File + " of " + repo + " on " + ref
	}
	return summary, nil
}

// repository resolves "owner/repo".
func (g *github) repository(a Action) (string, error) {
	if g.cfg.Repository != "" {
		repo := Expand(g.cfg.Repository, a)
		if !githubRepoName.MatchString(repo) {
			return "", Permanent("repository %q (from %q) is not of the form owner/repo", repo, g.cfg.Repository)
		}
		return repo, nil
	}
	var full string
	if a.Release != nil {
		full = a.Release.Attributes[release.AttrVCSRepositoryURL]
	}
	if full == "" {
		return "", Permanent("no GitHub repository: set repository (owner/repo) or send %s with the deploy event", release.AttrVCSRepositoryURL)
	}
	repo, ok := GitHubRepoFromURL(full)
	if !ok {
		return "", Permanent("no GitHub repository: %s %q is not a repository URL (https://github.com/owner/repo); set repository", release.AttrVCSRepositoryURL, full)
	}
	return repo, nil
}

// GitHubRepoFromURL returns "owner/repo" from https://HOST/owner/repo[.git]
// or git@HOST:owner/repo[.git].
func GitHubRepoFromURL(s string) (string, bool) {
	var path string
	if rest, ok := strings.CutPrefix(s, "git@"); ok {
		_, path, ok = strings.Cut(rest, ":")
		if !ok {
			return "", false
		}
	} else {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh") {
			return "", false
		}
		path = u.Path
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if !githubRepoName.MatchString(path) {
		return "", false
	}
	return path, true
}

// deploymentID resolves the GitHub deployment's numeric id.
func (g *github) deploymentID(a Action) (string, error) {
	if g.cfg.DeploymentID != "" {
		v := Expand(g.cfg.DeploymentID, a)
		if id, ok := githubNumericID(v); ok {
			return id, nil
		}
		return "", Permanent("no GitHub deployment id: deployment_id %q resolves to %q, which is not a number", g.cfg.DeploymentID, v)
	}
	dep := a.Decision.ReleaseID()
	if id, ok := githubNumericID(dep); ok && strings.HasPrefix(dep, "github-") {
		return id, nil
	}
	return "", Permanent("no GitHub deployment id: deployment.id %q is not of the form github-<n> (deploy events from the github source are) and deployment_id is not set", dep)
}

// githubNumericID accepts "42" and "github-42".
func githubNumericID(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "github-")
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil || n == 0 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}
