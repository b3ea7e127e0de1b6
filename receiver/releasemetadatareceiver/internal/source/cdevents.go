package source

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Definition{
		Name: "cdevents",
		Path: "/v1/cdevents",
		MediaTypes: []string{
			"application/json",
			"application/cloudevents+json",
			"application/cloudevents-batch+json",
		},
		New: func() Source { return cdeventsSource{} },
	})
}

// cdeventsSource accepts CDEvents (spec v0.5) carried by the CloudEvents HTTP
// binding in structured, batch or binary mode, or posted bare.
//
// The binding is read by hand, not with the CloudEvents SDK's HTTP binding:
// the body is already read and bounded by the receiver, and the SDK decodes
// an event whole into its own types, so it can neither name the member that
// broke a rule nor drop an optional one and keep the event. The CDEvents Go
// SDK is not served by the module proxy. Package URLs are parsed with
// packageurl-go.
type cdeventsSource struct{}

func (cdeventsSource) Authenticate(d *Delivery, secret []byte) error {
	return authenticateBearerOrHMAC(d, secret)
}

// cdeventTypes maps CDEvents type prefixes (the version suffix varies) to
// event types. The spec words service events in the past tense: "has been
// deployed", "has been upgraded" are done (succeeded); "has been rolled
// back" names the version the service returns to; "has been removed" ends
// what ran.
var cdeventTypes = []struct {
	prefix string
	typ    release.EventType
}{
	{"dev.cdevents.service.deployed.", release.EventSucceeded},
	{"dev.cdevents.service.upgraded.", release.EventSucceeded},
	{"dev.cdevents.service.rolledback.", release.EventRolledBack},
	{"dev.cdevents.service.removed.", release.EventRemoved},
}

// maxCDEventsBatch bounds the number of events in one batch delivery.
const maxCDEventsBatch = 100

func (cdeventsSource) Parse(d *Delivery) ([]release.Event, error) {
	mt, _, _ := mime.ParseMediaType(d.Header.Get("Content-Type"))
	switch {
	case mt == "application/cloudevents-batch+json":
		return parseCloudEventsBatch(d)
	case mt == "application/cloudevents+json":
		ev, err := parseStructuredCloudEvent(d, d.Body, "")
		if err != nil {
			return nil, err
		}
		return []release.Event{ev}, nil
	case d.Header.Get("Ce-Specversion") != "":
		ceID, err := url.PathUnescape(strings.TrimSpace(d.Header.Get("Ce-Id")))
		if err != nil {
			return nil, release.Fieldf("header ce-id", release.RuleFormat, "is not validly percent-encoded")
		}
		doc, err := decodeObject(d.Body, "")
		if err != nil {
			return nil, err
		}
		ev, err := parseCDEvent(d, doc, ceID, "")
		if err != nil {
			return nil, err
		}
		return []release.Event{ev}, nil
	}
	doc, err := decodeObject(d.Body, "")
	if err != nil {
		return nil, err
	}
	// A structured CloudEvent posted as application/json is recognised by
	// its envelope: specversion and no CDEvents context.
	if _, hasContext := doc["context"]; !hasContext {
		if _, isCE := doc["specversion"]; isCE {
			ev, err := parseStructuredCloudEvent(d, d.Body, "")
			if err != nil {
				return nil, err
			}
			return []release.Event{ev}, nil
		}
	}
	ev, err := parseCDEvent(d, doc, "", "")
	if err != nil {
		return nil, err
	}
	return []release.Event{ev}, nil
}

// parseCloudEventsBatch parses a JSON array of structured CloudEvents. Events
// that are not deploy events are skipped; any malformed event rejects the
// whole batch.
func parseCloudEventsBatch(d *Delivery) ([]release.Event, error) {
	trimmed := bytes.TrimSpace(d.Body)
	if len(trimmed) == 0 {
		return nil, release.Fieldf("body", release.RuleRequired, "is empty; expected a JSON array of CloudEvents")
	}
	if trimmed[0] != '[' {
		if !json.Valid(trimmed) {
			return nil, release.Fieldf("body", release.RuleSyntax, "is not valid JSON")
		}
		return nil, release.Fieldf("body", release.RuleType, "must be a JSON array of CloudEvents in batch mode")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(trimmed, &raws); err != nil {
		return nil, jsonFieldError("", err)
	}
	if len(raws) == 0 {
		return nil, release.Fieldf("body", release.RuleRequired, "is an empty batch")
	}
	if len(raws) > maxCDEventsBatch {
		return nil, release.Fieldf("body", release.RuleRange, "holds %d events; at most %d are accepted in one batch", len(raws), maxCDEventsBatch)
	}
	var events []release.Event
	var reasons []string
	for i, raw := range raws {
		ev, err := parseStructuredCloudEvent(d, raw, fmt.Sprintf("[%d]", i))
		var ig *Ignored
		if errors.As(err, &ig) {
			reasons = append(reasons, fmt.Sprintf("[%d] %s", i, ig.Reason))
			continue
		}
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, ignored("no deploy event in the batch: %s", strings.Join(reasons, "; "))
	}
	return events, nil
}

// parseStructuredCloudEvent parses one structured-mode CloudEvent whose data
// is a CDEvent; path prefixes field names (a batch index).
func parseStructuredCloudEvent(d *Delivery, raw []byte, path string) (release.Event, error) {
	ce, err := decodeObject(raw, path)
	if err != nil {
		return release.Event{}, err
	}
	specversion, err := ce.str("specversion", path)
	if err != nil {
		return release.Event{}, err
	}
	if specversion == "" {
		return release.Event{}, release.Fieldf(joinPath(path, "specversion"), release.RuleRequired, "is required in a structured CloudEvent")
	}
	ceID, err := ce.str("id", path)
	if err != nil {
		return release.Event{}, err
	}
	b64, err := ce.str("data_base64", path)
	if err != nil {
		return release.Event{}, err
	}
	if b64 != "" {
		decoded, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return release.Event{}, release.Fieldf(joinPath(path, "data_base64"), release.RuleFormat, "is not valid base64")
		}
		data, err := decodeObject(decoded, joinPath(path, "data_base64"))
		if err != nil {
			return release.Event{}, err
		}
		return parseCDEvent(d, data, ceID, joinPath(path, "data_base64"))
	}
	dataPath := joinPath(path, "data")
	data, err := ce.object("data", path)
	if err != nil {
		return release.Event{}, err
	}
	if data == nil {
		ceType, _ := ce.str("type", path)
		if ceType != "" && !strings.HasPrefix(ceType, "dev.cdevents.") {
			return release.Event{}, release.Fieldf(joinPath(path, "type"), release.RuleEnum, "%q is not a CDEvents type (dev.cdevents.*)", ceType)
		}
		return release.Event{}, release.Fieldf(dataPath, release.RuleRequired, "is required: it holds the CDEvent")
	}
	return parseCDEvent(d, data, ceID, dataPath)
}

// parseCDEvent maps one CDEvent; ceID is the CloudEvent id when there is an
// envelope, path is where the CDEvent sits in the payload.
func parseCDEvent(d *Delivery, doc jsonObject, ceID, path string) (release.Event, error) {
	ctxPath := joinPath(path, "context")
	cctx, err := doc.object("context", path)
	if err != nil {
		return release.Event{}, err
	}
	if cctx == nil {
		return release.Event{}, release.Fieldf(ctxPath, release.RuleRequired, "is required: the body is not a CDEvent")
	}
	ceType, err := cctx.str("type", ctxPath)
	if err != nil {
		return release.Event{}, err
	}
	typePath := joinPath(ctxPath, "type")
	if ceType == "" {
		return release.Event{}, release.Fieldf(typePath, release.RuleRequired, "is required")
	}
	if !strings.HasPrefix(ceType, "dev.cdevents.") {
		return release.Event{}, release.Fieldf(typePath, release.RuleEnum, "%q is not a CDEvents type (dev.cdevents.*)", ceType)
	}
	var typ release.EventType
	for _, t := range cdeventTypes {
		if strings.HasPrefix(ceType, t.prefix) {
			typ = t.typ
			break
		}
	}
	if typ == "" {
		return release.Event{}, ignored("CDEvents type %q is not a deploy event", ceType)
	}

	ev := release.Event{Type: typ, Source: "cdevents", ReceivedAt: d.ReceivedAt, Attributes: map[string]string{},
		RestoresVersion: typ == release.EventRolledBack}
	contextID, err := cctx.scalar("id", ctxPath)
	if err != nil {
		return release.Event{}, err
	}
	ev.ID = strings.TrimSpace(ceID)
	if ev.ID == "" {
		ev.ID = contextID
	}
	if strings.TrimSpace(ev.ID) == "" {
		return release.Event{}, release.Fieldf(joinPath(ctxPath, "id"), release.RuleRequired, "is required")
	}
	setAttr(ev.Attributes, release.AttrDeploymentID, contextID)
	// The time is optional to us: unreadable, it is dropped with a warning
	// and the receive time stands in.
	ts, err := cctx.str("timestamp", ctxPath)
	if err != nil {
		d.drop(err)
	}
	if ts != "" {
		if ev.Time, err = parseTime(ts, joinPath(ctxPath, "timestamp")); err != nil {
			d.drop(err)
		}
	}

	subjPath := joinPath(path, "subject")
	subj, err := doc.object("subject", path)
	if err != nil {
		return release.Event{}, err
	}
	if subj == nil {
		return release.Event{}, release.Fieldf(subjPath, release.RuleRequired, "is required")
	}
	subjID, err := subj.str("id", subjPath)
	if err != nil {
		return release.Event{}, err
	}
	name := lastSegment(subjID, "/")
	if name == "" {
		return release.Event{}, release.Fieldf(joinPath(subjPath, "id"), release.RuleRequired, "is required: its last segment is the service name")
	}
	ev.Attributes[release.AttrServiceName] = name

	contentPath := joinPath(subjPath, "content")
	content, err := subj.object("content", subjPath)
	if err != nil {
		return release.Event{}, err
	}
	if content == nil {
		return release.Event{}, release.Fieldf(contentPath, release.RuleRequired, "is required")
	}
	envPath := joinPath(contentPath, "environment")
	env, err := content.object("environment", contentPath)
	if err != nil {
		return release.Event{}, err
	}
	envID, err := env.str("id", envPath)
	if err != nil {
		return release.Event{}, err
	}
	envName, clusterHost := cdeventsEnvironment(envID)
	// Some producers name the environment next to its id; a name wins.
	if named, err := env.str("name", envPath); err != nil {
		d.drop(err)
	} else if named = strings.TrimSpace(named); named != "" {
		envName, clusterHost = named, ""
	}
	if envName == "" {
		return release.Event{}, release.Fieldf(joinPath(envPath, "id"), release.RuleRequired, "is required: its last segment is the environment name")
	}
	ev.Attributes[release.AttrDeploymentEnvironment] = envName

	artifactPath := joinPath(contentPath, "artifactId")
	artifact, err := content.str("artifactId", contentPath)
	if err != nil {
		return release.Event{}, err
	}
	switch {
	case strings.TrimSpace(artifact) != "":
		version, err := purlVersion(artifact, artifactPath)
		if err != nil {
			return release.Event{}, err
		}
		ev.Attributes[release.AttrServiceVersion] = version
		if strings.HasPrefix(version, "sha256:") {
			ev.Attributes[release.AttrOCIManifestDigest] = version
		}
	case typ != release.EventRemoved:
		return release.Event{}, release.Fieldf(artifactPath, release.RuleRequired, "is required: it is a purl carrying the service version")
	}

	if err := applyCDEventsCustomData(d, &ev, doc, path); err != nil {
		return release.Event{}, err
	}
	if clusterHost != "" && ev.Attributes[release.AttrDeploymentEnvironment] == clusterHost {
		// An Argo CD destination (cdviz): the cluster's API server, not an
		// environment. Kept, so the deploy is not lost, and said.
		d.drop(release.Fieldf(joinPath(envPath, "id"), "environment_name",
			"%q is a cluster URL, not an environment name; its host is used as the environment: "+
				"name the environment in customData.attributes[\"deployment.environment.name\"] or map the host in environment_aliases",
			truncate(envID, 200)))
	}
	return ev, nil
}

// cdeventsEnvironment returns the environment named by an environment id:
// its last path segment ("/envs/production", "production",
// "https://cd.example.com/environments/staging"). An id that is only a URL's
// host ("https://kubernetes.default.svc", Argo CD's destination server as
// cdviz sends it) names a cluster: its host is returned as both.
func cdeventsEnvironment(id string) (name, clusterHost string) {
	id = strings.TrimSpace(id)
	if u, err := url.Parse(id); err == nil && u.Scheme != "" && u.Host != "" {
		if seg := lastSegment(u.Path, "/"); seg != "" {
			return seg, ""
		}
		return u.Hostname(), u.Hostname()
	}
	return lastSegment(id, "/"), ""
}

// applyCDEventsCustomData reads our conventions in customData, when it is a
// JSON object: "deployment.id", "attributes" (merged into the attributes,
// winning over mapped values) and "release" (the release context).
func applyCDEventsCustomData(d *Delivery, ev *release.Event, doc jsonObject, path string) error {
	raw, ok := doc["customData"]
	if !ok || isNull(raw) {
		return nil
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil // a string (base64 of another content type) or another JSON value: not ours
	}
	cdPath := joinPath(path, "customData")
	custom, err := decodeObject(raw, cdPath)
	if err != nil {
		return err
	}
	id, err := custom.scalar(release.AttrDeploymentID, cdPath)
	if err != nil {
		return err
	}
	setAttr(ev.Attributes, release.AttrDeploymentID, id)
	attrs, err := custom.stringMap("attributes", cdPath)
	if err != nil {
		return err
	}
	for k, v := range attrs {
		setAttr(ev.Attributes, k, v)
	}
	// The release context is optional: a typo in it is a warning naming
	// the member, and the deploy is kept without it.
	if rc, ok := custom["release"]; ok && !isNull(rc) {
		if ev.Release, err = decodeReleaseContext(rc, joinPath(cdPath, "release")); err != nil {
			ev.Release = release.Context{}
			d.drop(err)
		}
	}
	return nil
}

// purlVersion returns the version a package URL carries
// (pkg:type/namespace/name@version?qualifiers#subpath): the "tag" qualifier
// when there is one (an OCI image's tag), else the decoded version.
func purlVersion(purl, field string) (string, error) {
	p, err := packageurl.FromString(strings.TrimSpace(purl))
	if err != nil {
		return "", release.Fieldf(field, release.RuleFormat, "%q is not a package URL (pkg:type/name@version): %v", truncate(purl, 200), err)
	}
	if tag := strings.TrimSpace(p.Qualifiers.Map()["tag"]); tag != "" {
		return tag, nil
	}
	if v := strings.TrimSpace(p.Version); v != "" {
		return v, nil
	}
	return "", release.Fieldf(field, release.RuleFormat, "package URL %q has no version (pkg:type/name@version)", truncate(purl, 200))
}
