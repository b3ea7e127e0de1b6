package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Definition{
		Name:       "gitlab",
		Path:       "/v1/gitlab",
		MediaTypes: []string{"application/json"},
		New:        func() Source { return gitlabSource{} },
	})
}

// gitlabSource accepts GitLab's Deployment Hook.
type gitlabSource struct{}

// standardWebhooksTolerance is how far webhook-timestamp may be from the
// receive time.
const standardWebhooksTolerance = 5 * time.Minute

// Authenticate accepts X-Gitlab-Token equal to the secret, or a Standard
// Webhooks signature (webhook-id, webhook-timestamp, webhook-signature).
func (gitlabSource) Authenticate(d *Delivery, secret []byte) error {
	token := d.Header.Get("X-Gitlab-Token")
	sig := d.Header.Get("Webhook-Signature")
	switch {
	case token == "" && sig == "":
		return unauthorized("no X-Gitlab-Token and no webhook-signature header")
	case token != "" && equalToken(token, secret):
		return nil
	case sig != "":
		return verifyStandardWebhook(d, secret)
	}
	return unauthorized("X-Gitlab-Token does not match")
}

// verifyStandardWebhook checks a Standard Webhooks signature: webhook-signature
// holds space-separated "v1,<base64 HMAC-SHA256>" entries over
// "{webhook-id}.{webhook-timestamp}.{body}"; any match is enough. The key is
// the base64 text after "whsec_", or the raw secret without that prefix.
func verifyStandardWebhook(d *Delivery, secret []byte) error {
	id := d.Header.Get("Webhook-Id")
	ts := d.Header.Get("Webhook-Timestamp")
	if id == "" || ts == "" {
		return unauthorized("webhook-signature needs webhook-id and webhook-timestamp headers")
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return unauthorized("webhook-timestamp is not a Unix time in seconds")
	}
	now := d.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	// Compare in seconds, without subtracting, so that absurd timestamps
	// cannot overflow.
	tol := int64(standardWebhooksTolerance / time.Second)
	if sec < now.Unix()-tol || sec > now.Unix()+tol {
		return unauthorized("webhook-timestamp is more than %s from the receive time", standardWebhooksTolerance)
	}
	key := secret
	if b64, ok := strings.CutPrefix(string(secret), "whsec_"); ok {
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return unauthorized("the configured whsec_ secret is not valid base64")
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strings.TrimSpace(ts) + "."))
	mac.Write(d.Body)
	want := mac.Sum(nil)
	for _, entry := range strings.Fields(d.Header.Get("Webhook-Signature")) {
		version, b64, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return unauthorized("no webhook-signature entry matches the body")
}

var gitlabStatuses = map[string]release.EventType{
	"running":  release.EventStarted,
	"success":  release.EventSucceeded,
	"failed":   release.EventFailed,
	"canceled": release.EventFailed,
}

// gitlabTimeLayouts are the ways GitLab writes status_changed_at: with a
// numeric offset (the Deployment events doc), with a zone name ("... UTC",
// the doc's other examples and GitLab.com), or RFC 3339.
var gitlabTimeLayouts = []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST", time.RFC3339Nano}

func parseGitLabTime(s string) (time.Time, error) {
	for _, layout := range gitlabTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, release.Fieldf("status_changed_at", release.RuleFormat,
		"%q is none of \"2006-01-02 15:04:05 -0700\", \"2006-01-02 15:04:05 UTC\" or RFC 3339", truncate(s, 64))
}

func (gitlabSource) Parse(d *Delivery) ([]release.Event, error) {
	if h := strings.TrimSpace(d.Header.Get("X-Gitlab-Event")); h != "" && h != "Deployment Hook" {
		return nil, ignored("GitLab event %q is not a Deployment Hook", h)
	}
	doc, err := decodeObject(d.Body, "")
	if err != nil {
		return nil, err
	}
	kind, err := doc.str("object_kind", "")
	if err != nil {
		return nil, err
	}
	switch kind {
	case "deployment":
	case "":
		return nil, release.Fieldf("object_kind", release.RuleRequired, "is required (\"deployment\")")
	default:
		return nil, ignored("GitLab object_kind %q is not a deployment", kind)
	}
	status, err := doc.str("status", "")
	if err != nil {
		return nil, err
	}
	if status == "" {
		return nil, release.Fieldf("status", release.RuleRequired, "is required")
	}
	typ, ok := gitlabStatuses[status]
	if !ok {
		return nil, ignored("deployment status %q is not a deploy event", status)
	}
	depID, err := doc.scalar("deployment_id", "")
	if err != nil {
		return nil, err
	}
	if depID == "" {
		return nil, release.Fieldf("deployment_id", release.RuleRequired, "is required")
	}

	ev := release.Event{Type: typ, Source: "gitlab", ReceivedAt: d.ReceivedAt, Attributes: map[string]string{}}
	ev.ID = strings.TrimSpace(d.Header.Get("Idempotency-Key"))
	if ev.ID == "" {
		ev.ID = strings.TrimSpace(d.Header.Get("X-Gitlab-Event-UUID"))
	}
	if ev.ID == "" {
		ev.ID = "gitlab-" + depID + "-" + status
	}
	ev.Attributes[release.AttrDeploymentID] = "gitlab-" + depID

	project, err := doc.object("project", "")
	if err != nil {
		return nil, err
	}
	path, err := project.str("path_with_namespace", "project")
	if err != nil {
		return nil, err
	}
	name := lastSegment(path, "/")
	if name == "" {
		return nil, release.Fieldf("project.path_with_namespace", release.RuleRequired, "is required: its last segment is the service name")
	}
	ev.Attributes[release.AttrServiceName] = name

	shortSHA, err := doc.str("short_sha", "")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(shortSHA) == "" {
		return nil, release.Fieldf("short_sha", release.RuleRequired, "is required: it is the service version")
	}
	ev.Attributes[release.AttrServiceVersion] = shortSHA

	env, err := doc.str("environment", "")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(env) == "" {
		return nil, release.Fieldf("environment", release.RuleRequired, "is required")
	}
	ev.Attributes[release.AttrDeploymentEnvironment] = env

	// What follows is optional: a field that cannot be read is dropped
	// with a warning, never the deploy (GitLab disables a hook that keeps
	// failing).
	commitURL, err := doc.str("commit_url", "")
	if err != nil {
		d.drop(err)
	}
	revision := shortSHA
	if full := lastSegment(commitURL, "/"); isHex(full) && (len(full) == 40 || len(full) == 64) {
		revision = full
	}
	setAttr(ev.Attributes, release.AttrVCSRevision, revision)
	webURL, err := project.str("web_url", "project")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrVCSRepositoryURL, webURL)
	deployable, err := doc.scalar("deployable_id", "")
	if err != nil {
		d.drop(err)
	}
	setAttr(ev.Attributes, release.AttrCICDPipelineRunID, deployable)

	changed, err := doc.str("status_changed_at", "")
	if err != nil {
		d.drop(err)
	}
	if changed = strings.TrimSpace(changed); changed != "" {
		if ev.Time, err = parseGitLabTime(changed); err != nil {
			d.drop(err) // the receive time stands in
		}
	}
	return []release.Event{ev}, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
