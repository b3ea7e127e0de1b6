package source

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Definition{
		Name:       "github",
		Path:       "/v1/github",
		MediaTypes: []string{"application/json", "application/x-www-form-urlencoded"},
		New:        func() Source { return githubSource{} },
	})
}

// githubSource accepts GitHub's deployment and deployment_status webhooks.
//
// Hand-written rather than go-github's webhook types and ValidatePayload:
// those read the request themselves (the receiver has already read and
// bounded the body, and signs over those exact bytes), and unmarshal the
// whole event into structs, so a wrongly typed optional member fails the
// event without naming the member, where these parsers name it or drop it.
type githubSource struct{}

// Authenticate checks X-Hub-Signature-256, the hex HMAC-SHA256 of the raw
// body. GitHub signs no timestamp: replays are caught by X-GitHub-Delivery.
func (githubSource) Authenticate(d *Delivery, secret []byte) error {
	return verifyHexHMAC(d.Header.Get("X-Hub-Signature-256"), secret, d.Body)
}

// githubStates maps deployment_status.state to an event type; states mapped
// to "" are understood but ignored.
var githubStates = map[string]release.EventType{
	"in_progress": release.EventStarted,
	"success":     release.EventSucceeded,
	"failure":     release.EventFailed,
	"error":       release.EventFailed,
	"pending":     "",
	"queued":      "",
	"waiting":     "",
	"inactive":    "",
}

func (githubSource) Parse(d *Delivery) ([]release.Event, error) {
	kind := strings.TrimSpace(d.Header.Get("X-GitHub-Event"))
	switch kind {
	case "":
		return nil, release.Fieldf("header X-GitHub-Event", release.RuleRequired, "is required (deployment or deployment_status)")
	case "deployment", "deployment_status":
	default:
		return nil, ignored("GitHub event %q is not a deployment event", kind)
	}
	id := strings.TrimSpace(d.Header.Get("X-GitHub-Delivery"))
	if id == "" {
		return nil, release.Fieldf("header X-GitHub-Delivery", release.RuleRequired, "is required: it is the delivery's idempotency key")
	}
	body, err := githubBody(d)
	if err != nil {
		return nil, err
	}
	doc, err := decodeObject(body, "")
	if err != nil {
		return nil, err
	}

	ev := release.Event{ID: id, Source: "github", ReceivedAt: d.ReceivedAt, Attributes: map[string]string{}}
	var status jsonObject
	if kind == "deployment_status" {
		if status, err = doc.object("deployment_status", ""); err != nil {
			return nil, err
		}
		if status == nil {
			return nil, release.Fieldf("deployment_status", release.RuleRequired, "is required in a deployment_status event")
		}
		state, err := status.str("state", "deployment_status")
		if err != nil {
			return nil, err
		}
		t, known := githubStates[state]
		switch {
		case state == "":
			return nil, release.Fieldf("deployment_status.state", release.RuleRequired, "is required")
		case !known:
			return nil, release.Fieldf("deployment_status.state", release.RuleEnum,
				"%q is not a deployment status state; one of in_progress, success, failure, error, pending, queued, waiting, inactive", state)
		case t == "":
			return nil, ignored("deployment status %q is not a deploy event", state)
		}
		ev.Type = t
	} else {
		ev.Type = release.EventStarted
	}

	dep, err := doc.object("deployment", "")
	if err != nil {
		return nil, err
	}
	if dep == nil {
		return nil, release.Fieldf("deployment", release.RuleRequired, "is required")
	}
	depID, err := dep.scalar("id", "deployment")
	if err != nil {
		return nil, err
	}
	if depID == "" {
		return nil, release.Fieldf("deployment.id", release.RuleRequired, "is required")
	}
	ev.Attributes[release.AttrDeploymentID] = "github-" + depID

	payload, err := githubDeploymentPayload(dep)
	if err != nil {
		return nil, err
	}
	repo, err := doc.object("repository", "")
	if err != nil {
		return nil, err
	}

	// service.name
	name, err := payload.firstScalar("deployment.payload", "service.name", "service")
	if err != nil {
		return nil, err
	}
	if name == "" {
		if name, err = repo.str("name", "repository"); err != nil {
			return nil, err
		}
	}
	if name == "" {
		return nil, release.Fieldf("repository.name", release.RuleRequired,
			"is required unless deployment.payload names the service (\"service.name\")")
	}
	ev.Attributes[release.AttrServiceName] = name
	ns, err := payload.firstScalar("deployment.payload", "service.namespace")
	if err != nil {
		return nil, err
	}
	setAttr(ev.Attributes, release.AttrServiceNamespace, ns)

	// service.version and VCS
	sha, err := dep.str("sha", "deployment")
	if err != nil {
		return nil, err
	}
	version, err := payload.firstScalar("deployment.payload", "service.version", "version")
	if err != nil {
		return nil, err
	}
	if version == "" {
		version = sha
	}
	if version == "" {
		return nil, release.Fieldf("deployment.sha", release.RuleRequired,
			"is required unless deployment.payload carries the version (\"service.version\")")
	}
	ev.Attributes[release.AttrServiceVersion] = version
	setAttr(ev.Attributes, release.AttrVCSRevision, sha)
	// From here on, what identifies the release is read. The rest is
	// optional: a member that cannot be read is dropped with a warning.
	ref, err := dep.str("ref", "deployment")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrVCSRefName, ref)
	repoURL, err := repo.str("html_url", "repository")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrVCSRepositoryURL, repoURL)

	// environment
	env, err := status.str("environment", "deployment_status")
	if err != nil {
		return nil, err
	}
	if env == "" {
		if env, err = dep.str("environment", "deployment"); err != nil {
			return nil, err
		}
	}
	if env == "" {
		return nil, release.Fieldf("deployment.environment", release.RuleRequired, "is required")
	}
	ev.Attributes[release.AttrDeploymentEnvironment] = env

	// CI/CD
	run, err := doc.object("workflow_run", "")
	if err != nil {
		d.drop(err)
	}
	runID, err := run.scalar("id", "workflow_run")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrCICDPipelineRunID, runID)
	runName, err := run.str("name", "workflow_run")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrCICDPipelineName, runName)

	// time: the status's for a status, else the deployment's
	for _, c := range []struct {
		obj  jsonObject
		path string
		key  string
	}{
		{status, "deployment_status", "created_at"},
		{status, "deployment_status", "updated_at"},
		{dep, "deployment", "created_at"},
	} {
		s, err := c.obj.str(c.key, c.path)
		if err != nil {
			d.drop(err)
			continue
		}
		if s == "" {
			continue
		}
		if ev.Time, err = parseTime(s, joinPath(c.path, c.key)); err != nil {
			d.drop(err)
			continue
		}
		break
	}

	// release context: optional, so a typo in it is reported as a warning
	// naming the member, and the deploy is kept without the context.
	if raw, ok := payload["release"]; ok && !isNull(raw) {
		if ev.Release, err = decodeReleaseContext(raw, "deployment.payload.release"); err != nil {
			ev.Release = release.Context{}
			d.drop(err)
		}
	}
	if ev.Release.Intent == "" {
		if ev.Release.Intent, err = dep.str("description", "deployment"); err != nil {
			d.drop(err)
		}
	}
	return []release.Event{ev}, nil
}

// githubBody returns the JSON document of a delivery: the body itself, or the
// "payload" field of a form-encoded body.
func githubBody(d *Delivery) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(d.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return d.Body, nil
	}
	form, err := url.ParseQuery(string(d.Body))
	if err != nil {
		return nil, release.Fieldf("body", release.RuleSyntax, "is not a valid form-encoded body: %v", err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return nil, release.Fieldf("payload", release.RuleRequired, "form field is required in a form-encoded delivery")
	}
	return []byte(payload), nil
}

// githubDeploymentPayload returns deployment.payload as an object. GitHub
// sends it as an object or as a string; a string that is not a JSON object is
// free text and carries nothing for us.
func githubDeploymentPayload(dep jsonObject) (jsonObject, error) {
	raw, ok := dep["payload"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, release.Fieldf("deployment.payload", release.RuleSyntax, "is not a valid JSON string")
		}
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "{") {
			return nil, nil
		}
		raw = []byte(s)
	}
	if len(raw) > 0 && raw[0] != '{' {
		// Arrays, numbers and booleans are allowed by GitHub but are not ours.
		return nil, nil
	}
	return decodeObject(raw, "deployment.payload")
}
