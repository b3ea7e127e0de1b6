package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// setupPages are the pages of docs/setup, one per CI/CD system, and the
// receiver source each configures.
var setupPages = map[string]string{
	"github.md":    "github",
	"gitlab.md":    "gitlab",
	"argocd.md":    "argocd",
	"flux.md":      "flux",
	"cdevents.md":  "cdevents",
	"spinnaker.md": "native",
}

// fence is a fenced code block of a Markdown page: its info string and its
// text, byte for byte, with the newline that ends its last line.
type fence struct{ lang, text string }

// fences returns the fenced code blocks of a Markdown text.
func fences(t *testing.T, md string) []fence {
	t.Helper()
	var out []fence
	var cur *fence
	for _, line := range strings.SplitAfter(md, "\n") {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{lang: strings.TrimPrefix(trimmed, "```")}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	require.Nil(t, cur, "an unclosed code block")
	return out
}

// yamlDocs decodes every document of a YAML text.
func yamlDocs(t *testing.T, text string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoErrorf(t, err, "a yaml block does not parse:\n%s", text)
		docs = append(docs, m)
	}
}

// setupPage is a page of docs/setup, read.
type setupPage struct {
	file      string
	text      string
	collector string           // the collector snippet, as on the page
	manifests []map[string]any // Kubernetes objects (apiVersion and kind)
	others    []map[string]any // other YAML: CI files, Spinnaker's Orca profile
	json      []string         // ```json blocks
}

func readSetupPage(t *testing.T, file string) setupPage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e2etest.MustModuleRoot(t), "docs", "setup", file))
	require.NoError(t, err)
	p := setupPage{file: file, text: string(raw)}
	for _, f := range fences(t, p.text) {
		switch f.lang {
		case "yaml":
			for _, doc := range yamlDocs(t, f.text) {
				switch {
				case doc["receivers"] != nil:
					require.Emptyf(t, p.collector, "%s: one collector snippet per page", file)
					p.collector = f.text
				case doc["apiVersion"] != nil && doc["kind"] != nil:
					p.manifests = append(p.manifests, doc)
				default:
					p.others = append(p.others, doc)
				}
			}
		case "json":
			p.json = append(p.json, f.text)
		}
	}
	require.NotEmptyf(t, p.collector, "%s shows no collector snippet (a ```yaml block with receivers:)", file)
	return p
}

// manifest is the page's Kubernetes object of that kind.
func (p setupPage) manifest(t *testing.T, kind string) map[string]any {
	t.Helper()
	for _, m := range p.manifests {
		if m["kind"] == kind {
			return m
		}
	}
	t.Fatalf("%s shows no %s", p.file, kind)
	return nil
}

// fullConfig embeds a collector snippet that is a fragment (no service:)
// into a whole config: a release store, a nop exporter and a logs pipeline
// from the receiver. A whole config is kept as it is.
func fullConfig(t *testing.T, snippet, apiAddr string) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(snippet), &m))
	if m["service"] != nil {
		return []byte(snippet)
	}
	m["extensions"] = map[string]any{"releasestore": map[string]any{"endpoint": apiAddr}}
	m["exporters"] = map[string]any{"nop": map[string]any{}}
	m["service"] = map[string]any{
		"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
		"extensions": []any{"releasestore"},
		"pipelines": map[string]any{"logs": map[string]any{
			"receivers": []any{"releasemetadata"}, "exporters": []any{"nop"},
		}},
	}
	out, err := yaml.Marshal(m)
	require.NoError(t, err)
	return out
}

// sourceSecret is the value the snippet's sources.<source>.secret takes in
// env (KEY=VALUE pairs).
func sourceSecret(t *testing.T, snippet, source string, env []string) string {
	t.Helper()
	var m struct {
		Receivers struct {
			Releasemetadata struct {
				Sources map[string]struct {
					Secret string `yaml:"secret"`
				} `yaml:"sources"`
			} `yaml:"releasemetadata"`
		} `yaml:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(snippet), &m))
	secret := m.Receivers.Releasemetadata.Sources[source].Secret
	ref := envRef.FindStringSubmatch(secret)
	require.NotNilf(t, ref, "the %s source's secret is not taken from ${env:...}: %q", source, secret)
	return envValue(t, env, ref[1])
}

func envValue(t *testing.T, env []string, name string) string {
	t.Helper()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in %v", name, env)
	return ""
}

// urlPath is the path of a URL a page configures a system to post to.
func urlPath(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(strings.TrimSpace(raw))
	require.NoError(t, err)
	return u.Path
}

// delivery is one request a system sends.
type delivery struct {
	path    string
	body    []byte
	headers []string
}

// TestSetupPages checks the setup page of every CI/CD system
// (docs/setup/*.md): its collector snippet, embedded into a whole config
// when it is a fragment, passes `otelcol-release validate`; the Argo CD
// page's ConfigMap is the shipped one byte for byte; and deliveries of the
// page's system, built from the receiver's corpus and from the page's own
// manifests (the Argo CD template, the Flux Alert's metadata, the Tekton
// Task's body, the Spinnaker stage's payload), signed or authenticated as
// the page configures, are accepted (202) by the built binary running the
// page's collector config, the last one leaving a live release.
func TestSetupPages(t *testing.T) {
	bin := e2etest.Binary(t)
	root := e2etest.MustModuleRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "setup", "*.md"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var want []string
	for name := range setupPages {
		want = append(want, name)
	}
	require.ElementsMatch(t, want, names, "docs/setup holds one page per system")
	readme, err := os.ReadFile(filepath.Join(root, "receiver", "releasemetadatareceiver", "README.md"))
	require.NoError(t, err)
	sources, err := os.ReadFile(filepath.Join(root, "docs", "sources.md"))
	require.NoError(t, err)

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			require.Containsf(t, string(readme), "docs/setup/"+name, "the receiver's README links %s", name)
			require.Containsf(t, string(sources), "setup/"+name, "docs/sources.md links %s", name)
			page := readSetupPage(t, name)
			source := setupPages[name]
			require.Containsf(t, page.collector, "      "+source+":", "the snippet configures the %s source", source)

			dir := t.TempDir()
			p := newPorts(t)
			fragment := e2etest.WriteFile(t, dir, "snippet.yaml", []byte(page.collector))
			env := exampleEnv(t, fragment)
			cfg := e2etest.WriteFile(t, dir, "config.yaml", fullConfig(t, page.collector, p.APIAddr))
			res := runEnv(t, bin, env, "validate", "--config", cfg)
			require.Equalf(t, 0, res.ExitCode, "otelcol-release validate on the snippet of %s:\n%s", name, res.Output)

			deliveries := setupDeliveries[name](t, page, sourceSecret(t, page.collector, source, env))
			require.NotEmpty(t, deliveries)
			proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: append(isolatedEnv(dir), env...), Args: []string{
				"--config", cfg, "--set=receivers::releasemetadata::endpoint=" + p.EventsAddr,
			}})
			proc.RequireReady(startTimeout, p.releasesURL())
			proc.RequireListening(startTimeout, p.EventsAddr)
			var last reply
			for i, d := range deliveries {
				resp := e2etest.PostJSON(t, p.events(d.path), d.body, d.headers...)
				require.Equalf(t, 202, resp.Status, "delivery %d to %s: %s\n%s", i, d.path, resp.Body, d.body)
				resp.JSON(t, &last)
			}
			// Every page's deliveries end with a successful deploy: its
			// release is live.
			require.NotEmpty(t, last.Events)
			require.Equal(t, "succeeded", getRelease(t, p.releaseURL(last.Events[0].DeploymentID)).Status)
			require.NoError(t, proc.Stop())
		})
	}
}

// setupDeliveries builds, per page, what its system sends, given the
// secret the page's collector snippet configures.
var setupDeliveries = map[string]func(t *testing.T, p setupPage, secret string) []delivery{
	"github.md": func(t *testing.T, _ setupPage, secret string) []delivery {
		var out []delivery
		for i, ev := range [][2]string{
			{"deployment", "github/octokit_deployment_created.json"},
			{"deployment_status", "github/octokit_deployment_status_success.json"},
		} {
			body := corpusPayload(t, ev[1], nil)
			out = append(out, delivery{"/v1/github", body, []string{
				"X-GitHub-Event", ev[0], "X-GitHub-Delivery", "setup-github-" + string(rune('a'+i)),
				"X-Hub-Signature-256", sign(secret, body),
			}})
		}
		return out
	},
	"gitlab.md": func(t *testing.T, _ setupPage, secret string) []delivery {
		return []delivery{{"/v1/gitlab", corpusPayload(t, "gitlab/webhook_events_deployment_success.json", nil),
			[]string{"X-Gitlab-Event", "Deployment Hook", "X-Gitlab-Token", secret}}}
	},
	"argocd.md": func(t *testing.T, p setupPage, secret string) []delivery {
		// The page's ConfigMap is the shipped one, byte for byte.
		shipped, err := os.ReadFile(filepath.Join(receiverDir(t), "testdata", "argocd-notifications-cm.yaml"))
		require.NoError(t, err)
		var cm string
		for _, f := range fences(t, p.text) {
			if f.lang == "yaml" && strings.Contains(f.text, "name: argocd-notifications-cm") {
				cm = f.text
			}
		}
		require.Equal(t, string(shipped), cm, "argocd.md shows the ConfigMap of receiver/releasemetadatareceiver/testdata/argocd-notifications-cm.yaml, byte for byte")
		// Where and how the page's webhook service posts.
		var data struct {
			Data map[string]string `yaml:"data"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(cm), &data))
		var service struct {
			URL     string `yaml:"url"`
			Headers []struct{ Name, Value string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(data.Data["service.webhook.otelcol-release"]), &service))
		path := urlPath(t, service.URL)
		require.Equal(t, "/v1/argocd", path)
		var headers []string
		for _, h := range service.Headers {
			headers = append(headers, h.Name, strings.ReplaceAll(h.Value, "$otelcol-release-token", secret))
		}
		var out []delivery
		for _, app := range []string{
			"single_source_running.json", "single_source_failed.json", "single_source_retry_running.json", "single_source_succeeded.json",
			"multi_source_running.json", "multi_source_succeeded.json",
		} {
			out = append(out, delivery{path, argocdRenderWith(t, []byte(cm), corpusPayload(t, "argocd/"+app, nil)), headers})
		}
		return out
	},
	"flux.md": func(t *testing.T, p setupPage, secret string) []delivery {
		provider := p.manifest(t, "Provider")["spec"].(map[string]any)
		require.Equal(t, "generic-hmac", provider["type"])
		path := urlPath(t, provider["address"].(string))
		require.Equal(t, "/v1/flux", path)
		metadata := p.manifest(t, "Alert")["spec"].(map[string]any)["eventMetadata"].(map[string]any)
		// Flux's documented event, failed, then retried and succeeding,
		// with the metadata the page's Alert adds.
		var out []delivery
		for i, reason := range []string{"ValidationFailed", "Progressing", "ReconciliationSucceeded"} {
			body := corpusPayload(t, "flux/providers_generic_validation_failed.json", func(m map[string]any) {
				for k, v := range metadata {
					m["metadata"].(map[string]any)[k] = v
				}
				m["reason"], m["message"] = reason, reason
				m["timestamp"] = time.Date(2022, 10, 28, 7, 26+i, 19, 0, time.UTC).Format(time.RFC3339)
			})
			out = append(out, delivery{path, body, []string{"X-Signature", sign(secret, body)}})
		}
		return out
	},
	"cdevents.md": func(t *testing.T, p setupPage, secret string) []delivery {
		// The body the page's Tekton Task sends for the page's TaskRun.
		step := p.manifest(t, "Task")["spec"].(map[string]any)["steps"].([]any)[0].(map[string]any)
		script := step["script"].(string)
		require.Contains(t, script, `-H "Authorization: Bearer ${TOKEN}"`)
		require.Contains(t, mustJSON(t, step["env"]), `"name":"TOKEN","valueFrom":{"secretKeyRef"`, "the step takes TOKEN from a Secret")
		m := regexp.MustCompile(`(?m)^\s*(https?://\S+)\s*\\$`).FindStringSubmatch(script)
		require.NotNil(t, m, "the script posts to a URL")
		path := urlPath(t, m[1])
		require.Equal(t, "/v1/cdevents", path)
		start := strings.Index(script, "<<EOF\n")
		end := strings.LastIndex(script, "\nEOF")
		require.True(t, start > 0 && end > start, "the script sends a here-document")
		params := map[string]string{}
		for _, pv := range p.manifest(t, "TaskRun")["spec"].(map[string]any)["params"].([]any) {
			pv := pv.(map[string]any)
			params[pv["name"].(string)] = pv["value"].(string)
		}
		body := substitute(t, script[start+len("<<EOF\n"):end], regexp.MustCompile(`\$\(([a-zA-Z.]+)\.([a-zA-Z0-9_-]+)\)|\$\{(now)\}`), func(g []string) (string, bool) {
			switch {
			case g[1] == "params":
				v, ok := params[g[2]]
				return v, ok
			case g[1] == "context.taskRun" && g[2] == "uid":
				return "6c1f0e2a-7d0e-4b7c-9a55-3f7f3c1d2b10", true
			case g[1] == "context.taskRun" && g[2] == "namespace":
				return "ci", true
			case g[3] == "now":
				return time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05Z"), true
			}
			return "", false
		})
		bearer := []string{"Authorization", "Bearer " + secret}
		return []delivery{
			{path, body, bearer},
			{path, corpusPayload(t, "cdevents/conformance_service_deployed.json", nil), bearer},
		}
	},
	"spinnaker.md": func(t *testing.T, p setupPage, secret string) []delivery {
		require.Len(t, p.others, 1, "spinnaker.md shows Orca's profile")
		hook := p.others[0]["webhook"].(map[string]any)["preconfigured"].([]any)[0].(map[string]any)
		require.Equal(t, "POST", hook["method"])
		path := urlPath(t, hook["url"].(string))
		require.Equal(t, "/v1/events", path)
		// Orca resolves ${NAME} from its environment: the same variable
		// as the collector's secret.
		secretVar := envRef.FindStringSubmatch(p.collector)[1]
		var headers []string
		for name, values := range hook["customHeaders"].(map[string]any) {
			v := regexp.MustCompile(`\$\{([A-Za-z_]+)\}`).ReplaceAllStringFunc(values.([]any)[0].(string), func(ref string) string {
				require.Equalf(t, "${"+secretVar+"}", ref, "Orca's header takes the collector's secret variable")
				return secret
			})
			headers = append(headers, name, v)
		}
		require.Contains(t, headers, "Bearer "+secret)
		// Each pipeline stage, its SpEL evaluated as Spinnaker would for
		// one execution triggered by the tag v1.4.2.
		require.Len(t, p.json, 1, "spinnaker.md shows the pipeline's stages")
		var stages []struct {
			Type            string            `json:"type"`
			ParameterValues map[string]string `json:"parameterValues"`
		}
		require.NoError(t, json.Unmarshal([]byte(p.json[0]), &stages))
		spel := map[string]string{"execution.id": "01JF3Z0K6Y8Q", "execution.name": "deploy-checkout", "trigger['tag']": "v1.4.2"}
		var out []delivery
		for _, st := range stages {
			require.Equal(t, hook["type"], st.Type)
			body := substitute(t, hook["payload"].(string), regexp.MustCompile(`\$\{parameterValues\['([a-z]+)'\]\}|\$\{([^}]+)\}`), func(g []string) (string, bool) {
				if g[1] != "" {
					v, ok := st.ParameterValues[g[1]]
					if e := regexp.MustCompile(`^\$\{(.+)\}$`).FindStringSubmatch(v); e != nil {
						v, ok = spel[e[1]]
					}
					return v, ok
				}
				v, ok := spel[g[2]]
				return v, ok
			})
			out = append(out, delivery{path, body, headers})
		}
		return out
	},
}

// substitute replaces every match of re in text with what value returns
// for its groups, failing on a match value does not know.
func substitute(t *testing.T, text string, re *regexp.Regexp, value func(groups []string) (string, bool)) []byte {
	t.Helper()
	out := re.ReplaceAllStringFunc(text, func(s string) string {
		v, ok := value(re.FindStringSubmatch(s))
		if !ok {
			t.Fatalf("no value for %s", s)
		}
		return v
	})
	require.NotContains(t, out, "$(", "an unsubstituted variable:\n%s", out)
	require.NotContains(t, out, "${", "an unsubstituted variable:\n%s", out)
	require.Truef(t, json.Valid([]byte(out)), "not JSON:\n%s", out)
	return bytes.TrimSpace([]byte(out))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
