package source

import (
	"strings"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Definition{
		Name:       "argocd",
		Path:       "/v1/argocd",
		MediaTypes: []string{"application/json"},
		New:        func() Source { return argocdSource{} },
	})
}

// argocdSource accepts the body rendered by the Argo CD Notifications
// templates we ship (testdata/argocd-notifications-cm.yaml): a flat JSON
// object of strings filled from the Application.
type argocdSource struct{}

func (argocdSource) Authenticate(d *Delivery, secret []byte) error {
	return authenticateBearerOrHMAC(d, secret)
}

// argocdNoValue is what Go templates print for a missing map key.
const argocdNoValue = "<no value>"

// argocdRevisionPrefix is how much of the revision goes into deployment.id.
const argocdRevisionPrefix = 12

func (argocdSource) Parse(d *Delivery) ([]release.Event, error) {
	doc, err := decodeObject(d.Body, "")
	if err != nil {
		return nil, err
	}
	f := map[string]string{}
	for _, key := range []string{
		"app", "project", "namespace", "cluster", "environment", "service", "service_namespace",
		"version", "revision", "target_revision", "repo_url", "phase", "health", "sync_status",
		"started_at", "finished_at",
	} {
		v, err := doc.scalar(key, "")
		if err != nil {
			return nil, err
		}
		if v = strings.TrimSpace(v); v != argocdNoValue {
			f[key] = v
		}
	}

	if f["phase"] == "" {
		return nil, release.Fieldf("phase", release.RuleRequired, "is required (.app.status.operationState.phase)")
	}
	var typ release.EventType
	switch f["phase"] {
	case "Running":
		typ = release.EventStarted
	case "Succeeded":
		if h := f["health"]; h != "" && h != "Healthy" {
			return nil, ignored("sync succeeded but health is %s; the deploy event is sent once the application is Healthy", h)
		}
		typ = release.EventSucceeded
	case "Failed", "Error":
		typ = release.EventFailed
	case "Terminating":
		return nil, ignored("sync operation is terminating")
	default:
		return nil, release.Fieldf("phase", release.RuleEnum, "%q is not an Argo CD operation phase; one of Running, Succeeded, Failed, Error, Terminating", truncate(f["phase"], 64))
	}
	app := f["app"]
	if app == "" {
		return nil, release.Fieldf("app", release.RuleRequired, "is required (.app.metadata.name)")
	}
	revision := f["revision"]
	if revision == "" {
		return nil, release.Fieldf("revision", release.RuleRequired, "is required (.app.status.operationState.syncResult.revision)")
	}
	if f["environment"] == "" {
		return nil, release.Fieldf("environment", release.RuleRequired,
			"is required: label the Application with environment=<name>")
	}

	depID := "argocd-" + app + "-" + truncate(revision, argocdRevisionPrefix)
	id := depID + "-" + strings.ToLower(f["phase"])
	if h := f["health"]; h != "" {
		id += "-" + strings.ToLower(h)
	}
	ev := release.Event{ID: id, Type: typ, Source: "argocd", ReceivedAt: d.ReceivedAt, Attributes: map[string]string{}}
	attrs := ev.Attributes
	attrs[release.AttrDeploymentID] = depID
	attrs[release.AttrDeploymentName] = app
	attrs[release.AttrServiceName] = firstNonEmpty(f["service"], app)
	setAttr(attrs, release.AttrServiceNamespace, f["service_namespace"])
	attrs[release.AttrServiceVersion] = firstNonEmpty(f["version"], revision)
	attrs[release.AttrDeploymentEnvironment] = f["environment"]
	// A Helm chart source's revision is the chart version, not a commit:
	// only a commit id is reported as VCS.
	if isHex(revision) && (len(revision) == 40 || len(revision) == 64) {
		attrs[release.AttrVCSRevision] = revision
		setAttr(attrs, release.AttrVCSRefName, f["target_revision"])
		setAttr(attrs, release.AttrVCSRepositoryURL, f["repo_url"])
	}
	if c := f["cluster"]; c != "" {
		ev.Release.Scope = map[string]string{"k8s.cluster.name": c}
	}

	ts, field := f["finished_at"], "finished_at"
	if typ == release.EventStarted || ts == "" {
		ts, field = f["started_at"], "started_at"
	}
	if ts != "" {
		if ev.Time, err = parseTime(ts, field); err != nil {
			return nil, err
		}
	}
	return []release.Event{ev}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
