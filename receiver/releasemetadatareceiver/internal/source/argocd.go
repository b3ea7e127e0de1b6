package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// argocdRequired are the template fields without which there is no deploy
// event; every other field is optional and dropped, with a warning, when it
// cannot be read.
var argocdRequired = map[string]bool{"app": true, "phase": true, "environment": true}

// argocdFields are the scalar fields of the template body.
var argocdFields = []string{
	"app", "project", "namespace", "cluster", "environment", "service", "service_namespace",
	"version", "revision", "operation_revision", "sync_revision", "target_revision", "repo_url",
	"phase", "health", "sync_status", "started_at", "finished_at", "retry_count",
}

// argocdListFields are the revisions of a multi-source Application
// (spec.sources): one per source, in the order of the sources. The template
// renders them comma-separated; a JSON array of strings is accepted too.
var argocdListFields = []string{"revisions", "operation_revisions", "sync_revisions"}

func (argocdSource) Parse(d *Delivery) ([]release.Event, error) {
	doc, err := decodeObject(d.Body, "")
	if err != nil {
		return nil, err
	}
	f := map[string]string{}
	for _, key := range argocdFields {
		v, err := doc.scalar(key, "")
		if err != nil {
			if argocdRequired[key] {
				return nil, err
			}
			d.drop(err)
			continue
		}
		if v = strings.TrimSpace(v); v != argocdNoValue {
			f[key] = v
		}
	}
	lists := map[string][]string{}
	for _, key := range argocdListFields {
		v, err := argocdList(doc, key)
		if err != nil {
			d.drop(err)
			continue
		}
		lists[key] = v
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
	revisions := argocdRevisions(typ, f, lists)
	if len(revisions) == 0 {
		return nil, release.Fieldf("revision", release.RuleRequired,
			"is required: one of revision/revisions (.app.status.operationState.syncResult), "+
				"operation_revision/operation_revisions (.app.status.operationState.operation.sync) "+
				"or sync_revision/sync_revisions (.app.status.sync)")
	}
	if f["environment"] == "" {
		return nil, release.Fieldf("environment", release.RuleRequired,
			"is required: label the Application with environment=<name>")
	}

	depID, version := argocdIdentity(app, revisions)
	// A retried sync repeats phase and health: the retry count and the
	// operation's times tell its deliveries apart.
	id := depID + "-" + strings.ToLower(f["phase"])
	if h := f["health"]; h != "" {
		id += "-" + strings.ToLower(h)
	}
	if n := f["retry_count"]; n != "" && n != "0" {
		id += "-retry" + n
	}
	ev := release.Event{ID: id, Type: typ, Source: "argocd", ReceivedAt: d.ReceivedAt, Attributes: map[string]string{}}
	attrs := ev.Attributes
	attrs[release.AttrDeploymentID] = depID
	attrs[release.AttrDeploymentName] = app
	attrs[release.AttrServiceName] = firstNonEmpty(f["service"], app)
	setAttr(attrs, release.AttrServiceNamespace, f["service_namespace"])
	attrs[release.AttrServiceVersion] = firstNonEmpty(f["version"], version)
	attrs[release.AttrDeploymentEnvironment] = f["environment"]
	// A Helm chart source's revision is the chart version, not a commit:
	// only a commit id is reported as VCS. Of a multi-source Application,
	// the commit is reported when exactly one source is a Git commit.
	var commits []string
	for _, r := range revisions {
		if isCommit(r) {
			commits = append(commits, r)
		}
	}
	if len(commits) == 1 {
		attrs[release.AttrVCSRevision] = commits[0]
		if len(revisions) == 1 {
			setAttr(attrs, release.AttrVCSRefName, f["target_revision"])
			setAttr(attrs, release.AttrVCSRepositoryURL, f["repo_url"])
		}
	}
	if c := f["cluster"]; c != "" {
		ev.Release.Scope = map[string]string{release.AttrK8sClusterName: c}
	}

	ts, field := f["finished_at"], "finished_at"
	if typ == release.EventStarted || ts == "" {
		ts, field = f["started_at"], "started_at"
	}
	if retried := f["retry_count"] != "" && f["retry_count"] != "0"; retried && typ == release.EventStarted {
		// A retry keeps the operation's startedAt, which precedes the
		// failure it retries: the receive time says when it started, so
		// that the store reopens the failed release.
		ts = ""
	}
	if ts != "" {
		t, err := parseTime(ts, field)
		if err != nil {
			d.drop(err) // the receive time stands in
		} else {
			ev.Time = t
			if field == "finished_at" {
				id += "-" + t.UTC().Format("20060102T150405Z")
			}
		}
	}
	ev.ID = id
	return []release.Event{ev}, nil
}

// argocdRevisions picks what the operation deploys. While a sync runs,
// syncResult is empty and status.sync.revision may still be the deployed
// commit: the operation's own revision is the one being synced. Once it
// has finished, syncResult holds the revision resolved. A revision equal to
// spec.source.targetRevision that is neither a commit nor a version ("HEAD",
// "main": a manual sync's symbolic ref) says nothing of what is deployed and
// is skipped; a chart version ("6.5.4") is what is deployed.
func argocdRevisions(typ release.EventType, f map[string]string, lists map[string][]string) []string {
	operation := orList(lists["operation_revisions"], f["operation_revision"])
	if len(operation) == 1 && operation[0] == f["target_revision"] && !isCommit(operation[0]) && !looksLikeVersion(operation[0]) {
		operation = nil
	}
	result := orList(lists["revisions"], f["revision"])
	synced := orList(lists["sync_revisions"], f["sync_revision"])
	order := [][]string{result, operation, synced}
	if typ == release.EventStarted {
		order = [][]string{operation, result, synced}
	}
	for _, revs := range order {
		if len(revs) > 0 {
			return revs
		}
	}
	return nil
}

// orList returns list, or the single value when the list is empty.
func orList(list []string, single string) []string {
	if len(list) > 0 {
		return list
	}
	if single != "" {
		return []string{single}
	}
	return nil
}

// argocdIdentity derives the deployment id and the default version from the
// revisions. One source: the revision (a commit, or a chart version). Several:
// the revisions joined with "+", commits shortened, and a digest of them all
// in the id, so that the same set of revisions is the same deployment.
func argocdIdentity(app string, revisions []string) (depID, version string) {
	if len(revisions) == 1 {
		return "argocd-" + app + "-" + truncate(revisions[0], argocdRevisionPrefix), revisions[0]
	}
	short := make([]string, len(revisions))
	for i, r := range revisions {
		if isCommit(r) {
			r = truncate(r, argocdRevisionPrefix)
		}
		short[i] = r
	}
	sum := sha256.Sum256([]byte(strings.Join(revisions, "\n")))
	return "argocd-" + app + "-" + hex.EncodeToString(sum[:])[:argocdRevisionPrefix], strings.Join(short, "+")
}

// argocdList reads a list of revisions: a comma-separated string (as the
// template renders it) or a JSON array of strings. "" and "<no value>" are
// no list.
func argocdList(doc jsonObject, key string) ([]string, error) {
	raw, ok := doc[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var items []string
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, release.Fieldf(key, release.RuleType, "must be a comma-separated string or an array of strings")
		}
	} else {
		s, err := doc.str(key, "")
		if err != nil {
			return nil, release.Fieldf(key, release.RuleType, "must be a comma-separated string or an array of strings")
		}
		if strings.TrimSpace(s) == argocdNoValue {
			return nil, nil
		}
		items = strings.Split(s, ",")
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" && it != argocdNoValue {
			out = append(out, it)
		}
	}
	return out, nil
}

// isCommit reports a full Git commit id (SHA-1 or SHA-256).
func isCommit(s string) bool { return isHex(s) && (len(s) == 40 || len(s) == 64) }

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
