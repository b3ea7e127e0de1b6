package source

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const argocdSHA = "9f2c1e7a1b3c4d5e6f708192a3b4c5d6e7f80912"

func argocdDelivery(body []byte) *Delivery {
	return newDelivery(body, "Content-Type", "application/json", "Authorization", "Bearer t0ken",
		"User-Agent", "Go-http-client/1.1")
}

// argocdCheckoutAttrs are the attributes of the checkout-prod-eu-1 samples.
func argocdCheckoutAttrs() map[string]string {
	return map[string]string{
		release.AttrDeploymentID:          "argocd-checkout-prod-eu-1-9f2c1e7a1b3c",
		release.AttrDeploymentName:        "checkout-prod-eu-1",
		release.AttrServiceName:           "checkout",
		release.AttrServiceNamespace:      "shop",
		release.AttrServiceVersion:        argocdSHA,
		release.AttrDeploymentEnvironment: "prod",
		release.AttrVCSRevision:           argocdSHA,
		release.AttrVCSRefName:            "main",
		release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout-deploy.git",
	}
}

func TestArgoCDParse(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	scope := release.Context{Scope: map[string]string{"k8s.cluster.name": "eu-1"}}
	tests := []struct {
		file string
		want release.Event
	}{
		{"argocd/sync_running.json", release.Event{
			ID: "argocd-checkout-prod-eu-1-9f2c1e7a1b3c-running-progressing", Type: release.EventStarted,
			Time: at("2026-11-24T10:00:00Z"), Attributes: argocdCheckoutAttrs(), Release: scope}},
		{"argocd/deployed.json", release.Event{
			ID: "argocd-checkout-prod-eu-1-9f2c1e7a1b3c-succeeded-healthy-20261124T100231Z", Type: release.EventSucceeded,
			Time: at("2026-11-24T10:02:31Z"), Attributes: argocdCheckoutAttrs(), Release: scope}},
		{"argocd/sync_failed.json", release.Event{
			ID: "argocd-checkout-prod-eu-1-9f2c1e7a1b3c-failed-degraded-20261124T100102Z", Type: release.EventFailed,
			Time: at("2026-11-24T10:01:02Z"), Attributes: argocdCheckoutAttrs(), Release: scope}},
		{"argocd/helm_deployed.json", release.Event{
			ID: "argocd-payments-6.5.4-succeeded-healthy-20261124T102041Z", Type: release.EventSucceeded,
			Time: at("2026-11-24T10:20:41Z"),
			Attributes: map[string]string{
				release.AttrDeploymentID:          "argocd-payments-6.5.4",
				release.AttrDeploymentName:        "payments",
				release.AttrServiceName:           "payments",
				release.AttrServiceVersion:        "6.5.4",
				release.AttrDeploymentEnvironment: "staging",
			}}},
	}
	src := lookupSource(t, "argocd")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tt.want.Source, tt.want.ReceivedAt = "argocd", testReceivedAt
			events, err := src.Parse(argocdDelivery(readTestdata(t, tt.file)))
			require.NoError(t, err)
			requireEvents(t, []release.Event{tt.want}, events)
			requireNormalized(t, events)
		})
	}
}

func TestArgoCDParseVariants(t *testing.T) {
	src := lookupSource(t, "argocd")
	base := readTestdata(t, "argocd/deployed.json")
	parse := func(fn func(m map[string]any)) release.Event {
		t.Helper()
		events, err := src.Parse(argocdDelivery(mutateJSON(t, base, fn)))
		require.NoError(t, err)
		require.Len(t, events, 1)
		return events[0]
	}
	t.Run("version label wins over the revision", func(t *testing.T) {
		ev := parse(func(m map[string]any) { m["version"] = "v1.4.2" })
		require.Equal(t, "v1.4.2", ev.Attr(release.AttrServiceVersion))
		require.Equal(t, argocdSHA, ev.Attr(release.AttrVCSRevision))
	})
	t.Run("missing template values print <no value>", func(t *testing.T) {
		ev := parse(func(m map[string]any) {
			m["service"], m["cluster"], m["finished_at"], m["service_namespace"] = "<no value>", "<no value>", "<no value>", "<no value>"
		})
		require.Equal(t, "checkout-prod-eu-1", ev.Attr(release.AttrServiceName))
		require.NotContains(t, ev.Attributes, release.AttrServiceNamespace)
		require.Empty(t, ev.Release.Scope)
		require.True(t, ev.Time.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "falls back to started_at")
	})
	t.Run("Error phase fails; no health omits it from the id", func(t *testing.T) {
		ev := parse(func(m map[string]any) { m["phase"] = "Error"; delete(m, "health") })
		require.Equal(t, release.EventFailed, ev.Type)
		require.Equal(t, "argocd-checkout-prod-eu-1-9f2c1e7a1b3c-error-20261124T100231Z", ev.ID)
	})
}

func TestArgoCDRevisions(t *testing.T) {
	src := lookupSource(t, "argocd")
	const deployed = "0123456789abcdef0123456789abcdef01234567"
	running := readTestdata(t, "argocd/sync_running.json")
	parse := func(t *testing.T, body []byte) (release.Event, *Delivery) {
		t.Helper()
		d := argocdDelivery(body)
		events, err := src.Parse(d)
		require.NoError(t, err)
		require.Len(t, events, 1)
		return events[0], d
	}
	t.Run("a running sync is the operation's revision, not the one deployed", func(t *testing.T) {
		ev, _ := parse(t, mutateJSON(t, running, func(m map[string]any) {
			m["revision"] = ""
			m["sync_revision"] = deployed
			m["operation_revision"] = argocdSHA
		}))
		require.Equal(t, "argocd-checkout-prod-eu-1-9f2c1e7a1b3c", ev.DeploymentID())
		require.Equal(t, argocdSHA, ev.Attr(release.AttrServiceVersion))
	})
	t.Run("a symbolic operation revision is skipped", func(t *testing.T) {
		ev, _ := parse(t, mutateJSON(t, running, func(m map[string]any) {
			m["revision"] = ""
			m["operation_revision"] = "main"
			m["sync_revision"] = argocdSHA
		}))
		require.Equal(t, argocdSHA, ev.Attr(release.AttrServiceVersion))
	})
	t.Run("multi-source: revisions only", func(t *testing.T) {
		for _, revs := range []any{"6.5.4," + argocdSHA, []any{"6.5.4", argocdSHA}} {
			ev, d := parse(t, mutateJSON(t, readTestdata(t, "argocd/deployed.json"), func(m map[string]any) {
				m["revision"] = ""
				m["revisions"] = revs
			}))
			require.Empty(t, d.Warnings)
			require.Equal(t, "6.5.4+9f2c1e7a1b3c", ev.Attr(release.AttrServiceVersion))
			require.Equal(t, argocdSHA, ev.Attr(release.AttrVCSRevision))
			require.NotContains(t, ev.Attributes, release.AttrVCSRepositoryURL, "the single-source repo URL does not name the commit's repo")
			require.Regexp(t, `^argocd-checkout-prod-eu-1-[0-9a-f]{12}$`, ev.DeploymentID())
			requireNormalized(t, []release.Event{ev})
		}
	})
	t.Run("multi-source running and succeeded share the deployment", func(t *testing.T) {
		started, _ := parse(t, mutateJSON(t, running, func(m map[string]any) {
			m["revision"] = ""
			m["operation_revisions"] = "6.5.4," + argocdSHA
		}))
		done, _ := parse(t, mutateJSON(t, readTestdata(t, "argocd/deployed.json"), func(m map[string]any) {
			m["revision"] = ""
			m["revisions"] = "6.5.4," + argocdSHA
		}))
		require.Equal(t, started.DeploymentID(), done.DeploymentID())
		require.Equal(t, started.Attr(release.AttrServiceVersion), done.Attr(release.AttrServiceVersion))
	})
	t.Run("a version label wins for multi-source too", func(t *testing.T) {
		ev, _ := parse(t, mutateJSON(t, readTestdata(t, "argocd/deployed.json"), func(m map[string]any) {
			m["revision"] = "<no value>"
			m["revisions"] = "6.5.4," + argocdSHA
			m["version"] = "v1.4.2"
		}))
		require.Equal(t, "v1.4.2", ev.Attr(release.AttrServiceVersion))
	})
	t.Run("retries are distinct deliveries of one deployment", func(t *testing.T) {
		first, _ := parse(t, running)
		retry, _ := parse(t, mutateJSON(t, running, func(m map[string]any) { m["retry_count"] = 1 }))
		require.NotEqual(t, first.ID, retry.ID)
		require.Equal(t, first.DeploymentID(), retry.DeploymentID())
		require.False(t, first.Time.IsZero())
		require.True(t, retry.Time.IsZero(), "a retry's startedAt is the first attempt's: the receive time stands in")
	})
	t.Run("unreadable optional fields are dropped", func(t *testing.T) {
		ev, d := parse(t, mutateJSON(t, running, func(m map[string]any) {
			m["started_at"] = "now"
			m["project"] = map[string]any{}
			m["revisions"] = 7
		}))
		require.Len(t, d.Warnings, 3)
		fields := []string{d.Warnings[0].Field, d.Warnings[1].Field, d.Warnings[2].Field}
		require.ElementsMatch(t, []string{"started_at", "project", "revisions"}, fields)
		require.True(t, ev.Time.IsZero(), "the receive time stands in")
		requireNormalized(t, []release.Event{ev})
	})
}

func TestArgoCDIgnored(t *testing.T) {
	src := lookupSource(t, "argocd")
	_, err := src.Parse(argocdDelivery(readTestdata(t, "argocd/succeeded_progressing.json")))
	requireIgnored(t, err)
	body := mutateJSON(t, readTestdata(t, "argocd/sync_running.json"), func(m map[string]any) { m["phase"] = "Terminating" })
	_, err = src.Parse(argocdDelivery(body))
	requireIgnored(t, err)
}

func TestArgoCDMalformed(t *testing.T) {
	src := lookupSource(t, "argocd")
	base := readTestdata(t, "argocd/sync_running.json")
	mut := func(fn func(m map[string]any)) *Delivery { return argocdDelivery(mutateJSON(t, base, fn)) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"template rendered invalid JSON", argocdDelivery([]byte(`{"app": "checkout", "phase": "Running",}`)), "body", release.RuleSyntax},
		{"no phase", mut(func(m map[string]any) { delete(m, "phase") }), "phase", release.RuleRequired},
		{"phase <no value>", mut(func(m map[string]any) { m["phase"] = "<no value>" }), "phase", release.RuleRequired},
		{"unknown phase", mut(func(m map[string]any) { m["phase"] = "Syncing" }), "phase", release.RuleEnum},
		{"no app", mut(func(m map[string]any) { m["app"] = "" }), "app", release.RuleRequired},
		{"app is an object", mut(func(m map[string]any) { m["app"] = map[string]any{"name": "x"} }), "app", release.RuleType},
		{"no revision", mut(func(m map[string]any) { m["revision"] = "<no value>" }), "revision", release.RuleRequired},
		{"no environment label", mut(func(m map[string]any) { m["environment"] = "" }), "environment", release.RuleRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(tt.d)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

func TestArgoCDAuthenticate(t *testing.T) {
	src := lookupSource(t, "argocd")
	secret := []byte("t0ken")
	body := readTestdata(t, "argocd/deployed.json")
	require.NoError(t, src.Authenticate(argocdDelivery(body), secret))
	require.NoError(t, src.Authenticate(newDelivery(body, "X-Signature-256", SignHexHMAC(secret, body)), secret))
	requireUnauthorized(t, src.Authenticate(newDelivery(body), secret))
	requireUnauthorized(t, src.Authenticate(argocdDelivery(body), []byte("other")))
	requireUnauthorized(t, src.Authenticate(newDelivery(append(body, '\n'), "X-Signature-256", SignHexHMAC(secret, body)), secret))
}

// argocdConfigMap is the shipped Argo CD Notifications configuration.
var argocdConfigMap = filepath.Join("..", "..", "testdata", "argocd-notifications-cm.yaml")

// fakeArgoApp is an Application as Argo CD hands it to templates: the
// unstructured object, maps all the way down.
func fakeArgoApp(phase, health string, labels map[string]any) map[string]any {
	opState := map[string]any{
		"phase":     phase,
		"startedAt": "2026-11-24T10:00:00Z",
		"operation": map[string]any{"sync": map[string]any{"revision": argocdSHA}},
	}
	if phase != "Running" {
		opState["finishedAt"] = "2026-11-24T10:02:31Z"
		opState["syncResult"] = map[string]any{"revision": argocdSHA}
	}
	meta := map[string]any{"name": "checkout-prod-eu-1", "namespace": "argocd"}
	if labels != nil {
		meta["labels"] = labels
	}
	return map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   meta,
		"spec": map[string]any{
			"project":     "shop",
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "shop"},
			"source": map[string]any{"repoURL": "https://github.com/acme/checkout-deploy.git",
				"targetRevision": "main", "path": "overlays/prod"},
		},
		"status": map[string]any{
			"health":         map[string]any{"status": health},
			"sync":           map[string]any{"status": "Synced", "revision": argocdSHA},
			"operationState": opState,
		},
	}
}

// TestArgoCDNotificationsConfigMap render-checks the shipped ConfigMap: the
// service, the triggers, and the template body executed against realistic
// Applications and fed to the parser.
func TestArgoCDNotificationsConfigMap(t *testing.T) {
	raw, err := os.ReadFile(argocdConfigMap)
	require.NoError(t, err)
	var cm struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   map[string]any    `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cm))
	require.Equal(t, "v1", cm.APIVersion)
	require.Equal(t, "ConfigMap", cm.Kind)
	require.Equal(t, "argocd-notifications-cm", cm.Metadata["name"])

	// The webhook service posts to the argocd path with a Bearer token from
	// argocd-notifications-secret.
	var svc struct {
		URL     string `yaml:"url"`
		Headers []struct{ Name, Value string }
	}
	require.NoError(t, yaml.Unmarshal([]byte(cm.Data["service.webhook.otelcol-release"]), &svc))
	def, _ := Lookup("argocd")
	require.True(t, strings.HasSuffix(svc.URL, def.Path), svc.URL)
	headers := map[string]string{}
	for _, h := range svc.Headers {
		headers[h.Name] = h.Value
	}
	require.Equal(t, "application/json", headers["Content-Type"])
	require.Regexp(t, `^Bearer \$[a-z0-9-]+$`, headers["Authorization"])

	// Every trigger sends a template that exists and posts to our service.
	bodies := map[string]string{}
	for _, trig := range []string{"on-sync-running", "on-deployed", "on-sync-failed"} {
		var conds []struct {
			When    string   `yaml:"when"`
			Send    []string `yaml:"send"`
			OncePer string   `yaml:"oncePer"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(cm.Data["trigger."+trig]), &conds), trig)
		require.NotEmpty(t, conds, trig)
		for _, c := range conds {
			require.NotEmpty(t, c.When, trig)
			for _, name := range c.Send {
				var tmpl struct {
					Webhook map[string]struct {
						Method string `yaml:"method"`
						Body   string `yaml:"body"`
					} `yaml:"webhook"`
				}
				require.NoError(t, yaml.Unmarshal([]byte(cm.Data["template."+name]), &tmpl), name)
				wh, ok := tmpl.Webhook["otelcol-release"]
				require.True(t, ok, "template %s has no webhook.otelcol-release", name)
				require.Equal(t, "POST", wh.Method)
				bodies[trig] = wh.Body
			}
		}
	}
	require.Len(t, bodies, 3)
	require.Contains(t, cm.Data["trigger.on-deployed"], "oncePer")

	// The default subscription sends all three triggers to our service.
	var subs []struct {
		Recipients []string `yaml:"recipients"`
		Triggers   []string `yaml:"triggers"`
		Selector   string   `yaml:"selector"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(cm.Data["subscriptions"]), &subs))
	require.Len(t, subs, 1)
	require.Equal(t, []string{"otelcol-release"}, subs[0].Recipients)
	require.ElementsMatch(t, []string{"on-sync-running", "on-deployed", "on-sync-failed"}, subs[0].Triggers)
	require.Equal(t, "environment", subs[0].Selector)

	labels := map[string]any{"environment": "production", "service.name": "checkout", "cluster": "eu-1"}
	src := lookupSource(t, "argocd")
	render := func(t *testing.T, body string, app map[string]any) []byte {
		t.Helper()
		tmpl, err := template.New("body").Parse(body)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, tmpl.Execute(&out, map[string]any{"app": app, "context": map[string]string{}}))
		return out.Bytes()
	}
	for _, tt := range []struct {
		trigger, phase, health string
		want                   release.EventType
		at                     string
	}{
		{"on-sync-running", "Running", "Progressing", release.EventStarted, "2026-11-24T10:00:00Z"},
		{"on-deployed", "Succeeded", "Healthy", release.EventSucceeded, "2026-11-24T10:02:31Z"},
		{"on-sync-failed", "Failed", "Degraded", release.EventFailed, "2026-11-24T10:02:31Z"},
		{"on-sync-failed", "Error", "Missing", release.EventFailed, "2026-11-24T10:02:31Z"},
	} {
		t.Run(tt.trigger+"/"+tt.phase, func(t *testing.T) {
			body := render(t, bodies[tt.trigger], fakeArgoApp(tt.phase, tt.health, labels))
			require.NotContains(t, string(body), "<no value>")
			events, err := src.Parse(argocdDelivery(body))
			require.NoError(t, err, "rendered body:\n%s", body)
			require.Len(t, events, 1)
			ev := events[0]
			require.Equal(t, tt.want, ev.Type)
			require.True(t, ev.Time.Equal(mustTime(t, tt.at)), ev.Time)
			require.Equal(t, map[string]string{
				release.AttrDeploymentID:          "argocd-checkout-prod-eu-1-9f2c1e7a1b3c",
				release.AttrDeploymentName:        "checkout-prod-eu-1",
				release.AttrServiceName:           "checkout",
				release.AttrServiceVersion:        argocdSHA,
				release.AttrDeploymentEnvironment: "production",
				release.AttrVCSRevision:           argocdSHA,
				release.AttrVCSRefName:            "main",
				release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout-deploy.git",
			}, ev.Attributes)
			require.Equal(t, map[string]string{"k8s.cluster.name": "eu-1"}, ev.Release.Scope)
			requireNormalized(t, events)
		})
	}

	t.Run("running sync while status.sync still names the deployed commit", func(t *testing.T) {
		const deployed = "0123456789abcdef0123456789abcdef01234567"
		running := fakeArgoApp("Running", "Progressing", labels)
		running["status"].(map[string]any)["sync"] = map[string]any{"status": "OutOfSync", "revision": deployed}
		started := parseOne(t, src, render(t, bodies["on-sync-running"], running))
		done := parseOne(t, src, render(t, bodies["on-deployed"], fakeArgoApp("Succeeded", "Healthy", labels)))
		require.Equal(t, argocdSHA, started.Attr(release.AttrServiceVersion))
		require.Equal(t, done.DeploymentID(), started.DeploymentID())
	})
	t.Run("multi-source application", func(t *testing.T) {
		multi := func(phase, health string) map[string]any {
			app := fakeArgoApp(phase, health, labels)
			spec := app["spec"].(map[string]any)
			delete(spec, "source")
			spec["sources"] = []any{
				map[string]any{"repoURL": "https://charts.example.com", "chart": "checkout", "targetRevision": "6.5.4"},
				map[string]any{"repoURL": "https://github.com/acme/checkout-values.git", "targetRevision": "main", "ref": "values"},
			}
			status := app["status"].(map[string]any)
			status["sync"] = map[string]any{"status": "Synced", "revisions": []any{"6.5.4", argocdSHA}}
			op := status["operationState"].(map[string]any)
			op["operation"] = map[string]any{"sync": map[string]any{"revisions": []any{"6.5.4", argocdSHA}}}
			if res, ok := op["syncResult"]; ok {
				delete(res.(map[string]any), "revision")
				res.(map[string]any)["revisions"] = []any{"6.5.4", argocdSHA}
			}
			return app
		}
		started := parseOne(t, src, render(t, bodies["on-sync-running"], multi("Running", "Progressing")))
		done := parseOne(t, src, render(t, bodies["on-deployed"], multi("Succeeded", "Healthy")))
		require.Equal(t, release.EventStarted, started.Type)
		require.Equal(t, release.EventSucceeded, done.Type)
		require.Equal(t, started.DeploymentID(), done.DeploymentID())
		require.Equal(t, "6.5.4+9f2c1e7a1b3c", done.Attr(release.AttrServiceVersion))
		require.Equal(t, argocdSHA, done.Attr(release.AttrVCSRevision))
	})

	t.Run("application without labels or single source", func(t *testing.T) {
		app := fakeArgoApp("Succeeded", "Healthy", nil)
		delete(app["spec"].(map[string]any), "source")
		body := render(t, bodies["on-deployed"], app)
		_, err := src.Parse(argocdDelivery(body))
		requireFieldError(t, err, "environment", release.RuleRequired)
	})
}

// parseOne parses a rendered body that must give one event.
func parseOne(t *testing.T, src Source, body []byte) release.Event {
	t.Helper()
	require.NotContains(t, string(body), "<no value>")
	events, err := src.Parse(argocdDelivery(body))
	require.NoError(t, err, "rendered body:\n%s", body)
	require.Len(t, events, 1)
	requireNormalized(t, events)
	return events[0]
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return tm
}

func FuzzArgoCD(f *testing.F) {
	addFuzzSeeds(f, "argocd")
	addArgoCDCorpusSeeds(f)
	src := lookupSource(f, "argocd")
	secret := []byte("fuzz-secret")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, headers := range [][]string{
			{"Content-Type", "application/json", "Authorization", "Bearer fuzz-secret"},
			{"Content-Type", "application/json", "X-Signature-256", SignHexHMAC(secret, body)},
			{},
		} {
			checkFuzzDelivery(t, "argocd", src, secret, newDelivery(body, headers...))
		}
	})
}
