package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "argocd",
		Actions:   []release.Action{release.ActionRollback},
		NewConfig: func() any { return &ArgoCDConfig{ClientConfig: clientDefaults(""), App: "{service.name}"} },
		New:       func(cfg any) (Target, error) { return &argoCD{cfg: cfg.(*ArgoCDConfig)}, nil },
	})
}

// ArgoCDConfig configures rollbacks through the Argo CD API server.
type ArgoCDConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: tls, proxy_url, timeout, headers,
	// auth, compression... Its endpoint is not used: the URL is server.
	confighttp.ClientConfig `mapstructure:",squash"`

	// Server is the API server's base URL (https://argocd.example.com).
	Server string `mapstructure:"server"`
	// Token is an Argo CD API token (an account or project role token)
	// allowed to get and sync the application.
	Token configopaque.String `mapstructure:"token"`
	// App is the application's name (a template; default "{service.name}").
	App string `mapstructure:"app"`
	// AppNamespace is the application's namespace, for applications outside
	// Argo CD's own namespace (a template).
	AppNamespace string `mapstructure:"app_namespace"`
	// Project is the application's project (a template), sent when set.
	Project string `mapstructure:"project"`
	// Prune deletes resources the earlier revision does not have.
	Prune bool `mapstructure:"prune"`
}

// HTTPClientConfig implements ClientSettings.
func (c *ArgoCDConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *ArgoCDConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, "server"); err != nil {
		return err
	}
	if c.Server == "" {
		return errors.New("server: required")
	}
	if !isHTTPURL(c.Server) {
		return errors.New("server: must be an http or https URL")
	}
	if c.App == "" {
		return errors.New("app: required")
	}
	return nil
}

type argoCD struct{ cfg *ArgoCDConfig }

// argoCDApp is what the target reads of an Application.
type argoCDApp struct {
	Spec struct {
		SyncPolicy *struct {
			Automated *struct {
				// Enabled (Argo CD 3.1+) switches automated sync off while
				// keeping its settings; absent means on.
				Enabled *bool `json:"enabled"`
			} `json:"automated"`
		} `json:"syncPolicy"`
	} `json:"spec"`
	Status struct {
		Sync struct {
			Revision  string   `json:"revision"`
			Revisions []string `json:"revisions"`
		} `json:"sync"`
		History []argoCDHistory `json:"history"`
	} `json:"status"`
}

type argoCDHistory struct {
	ID         argoCDInt `json:"id"`
	Revision   string    `json:"revision"`
	Revisions  []string  `json:"revisions"`
	DeployedAt string    `json:"deployedAt"`
}

func (h argoCDHistory) revision() string {
	if h.Revision != "" {
		return h.Revision
	}
	return strings.Join(h.Revisions, ",")
}

// argoCDInt reads an int64 sent as a number or, as grpc-gateway does for
// int64 fields, as a string.
type argoCDInt int64

func (n *argoCDInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if string(b) == "null" || len(b) == 0 {
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	*n = argoCDInt(v)
	return err
}

// automatedSync reports whether automated sync is on.
func (app *argoCDApp) automatedSync() bool {
	p := app.Spec.SyncPolicy
	return p != nil && p.Automated != nil && (p.Automated.Enabled == nil || *p.Automated.Enabled)
}

// argoCDRollbackEntry chooses the history entry to roll back to: of the
// entries before the newest (the one deployed now), the newest whose
// revision differs from the deployed one and from status.sync.revision;
// when all share the revision, the entry just before the newest.
func argoCDRollbackEntry(history []argoCDHistory, syncRevision string) (argoCDHistory, bool) {
	if len(history) < 2 {
		return argoCDHistory{}, false
	}
	h := append([]argoCDHistory(nil), history...)
	sort.SliceStable(h, func(i, j int) bool { return h[i].ID < h[j].ID })
	current := h[len(h)-1].revision()
	earlier := h[:len(h)-1]
	for i := len(earlier) - 1; i >= 0; i-- {
		if rev := earlier[i].revision(); rev != current && rev != syncRevision {
			return earlier[i], true
		}
	}
	return earlier[len(earlier)-1], true
}

type argoCDRollback struct {
	Name         string `json:"name"`
	ID           int64  `json:"id"`
	DryRun       bool   `json:"dryRun"`
	Prune        bool   `json:"prune"`
	AppNamespace string `json:"appNamespace,omitempty"`
	Project      string `json:"project,omitempty"`
}

func (c *argoCD) Act(ctx context.Context, env Env, a Action) (string, error) {
	name := Expand(c.cfg.App, a)
	ns, project := Expand(c.cfg.AppNamespace, a), Expand(c.cfg.Project, a)
	for _, n := range [][2]string{{"app", name}, {"app_namespace", ns}, {"project", project}} {
		if hasPlaceholder(n[1]) || (n[0] == "app" && n[1] == "") {
			return "", Permanent("%s resolves to %q: the decision does not name it", n[0], n[1])
		}
	}
	var headers map[string]string
	if c.cfg.Token != "" {
		headers = map[string]string{"Authorization": "Bearer " + string(c.cfg.Token)}
	}
	base := strings.TrimRight(c.cfg.Server, "/") + "/api/v1/applications/" + url.PathEscape(name)
	get := base
	if ns != "" {
		get += "?" + url.Values{"appNamespace": {ns}}.Encode()
	}
	_, answer, err := Do(ctx, env.HTTP, http.MethodGet, get, headers, nil)
	if err != nil {
		return "", err
	}
	var app argoCDApp
	if err := json.Unmarshal(answer, &app); err != nil {
		return "", Permanent("reading Argo CD application %s: %v", name, err)
	}
	if app.automatedSync() {
		return "", Permanent("Argo CD refuses to roll back %s while automated sync is on; disable auto-sync on the application (argocd app set %s --sync-policy none) or roll back in Git", name, name)
	}
	syncRev := app.Status.Sync.Revision
	if syncRev == "" {
		syncRev = strings.Join(app.Status.Sync.Revisions, ",")
	}
	entry, ok := argoCDRollbackEntry(app.Status.History, syncRev)
	if !ok {
		return "", Permanent("Argo CD application %s has %d history entries: there is no earlier deployment to roll back to", name, len(app.Status.History))
	}
	body := argoCDRollback{Name: name, ID: int64(entry.ID), Prune: c.cfg.Prune, AppNamespace: ns, Project: project}
	status, answer, err := Do(ctx, env.HTTP, http.MethodPost, base+"/rollback", headers, body)
	if err != nil {
		// Another sync running is the one refusal that passes.
		if status == http.StatusBadRequest && bytes.Contains(answer, []byte("another operation is already in progress")) {
			return "", fmt.Errorf("rolling back Argo CD application %s: another operation is in progress: %s", name, clip(answer))
		}
		return "", err
	}
	summary := fmt.Sprintf("rolled back Argo CD application %s to history entry %d (revision %s", name, entry.ID, entry.revision())
	if entry.DeployedAt != "" {
		summary += ", deployed " + entry.DeployedAt
	}
	return summary + ")", nil
}
