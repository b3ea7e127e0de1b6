package source

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Definition{
		Name:       "flux",
		Path:       "/v1/flux",
		MediaTypes: []string{"application/json"},
		New:        func() Source { return fluxSource{} },
	})
}

// fluxSource accepts events from Flux's notification-controller, Provider
// type generic or generic-hmac.
type fluxSource struct{}

// Authenticate accepts "X-Signature: sha256=<hex HMAC of the body>" (provider
// generic-hmac) or "Authorization: Bearer <secret>" (provider generic with a
// headers secret).
func (fluxSource) Authenticate(d *Delivery, secret []byte) error {
	if sig := d.Header.Get("X-Signature"); sig != "" {
		return verifyHexHMAC(sig, secret, d.Body)
	}
	auth := d.Header.Get("Authorization")
	if auth == "" {
		return unauthorized("no X-Signature and no Authorization: Bearer header")
	}
	token, ok := bearerToken(auth)
	if !ok {
		return unauthorized("Authorization header is not a Bearer token")
	}
	if !equalToken(token, secret) {
		return unauthorized("bearer token does not match")
	}
	return nil
}

var fluxReasons = map[string]release.EventType{
	"Progressing":             release.EventStarted,
	"InstallSucceeded":        release.EventSucceeded,
	"UpgradeSucceeded":        release.EventSucceeded,
	"ReconciliationSucceeded": release.EventSucceeded,
	"InstallFailed":           release.EventFailed,
	"UpgradeFailed":           release.EventFailed,
	"ReconciliationFailed":    release.EventFailed,
	"HealthCheckFailed":       release.EventFailed,
	"BuildFailed":             release.EventFailed,
	"ArtifactFailed":          release.EventFailed,
	// kustomize-controller's server-side dry run and garbage collection
	// (the failed-deploy example of the generic webhook docs).
	"ValidationFailed":   release.EventFailed,
	"PruneFailed":        release.EventFailed,
	"RollbackSucceeded":  release.EventRolledBack,
	"UninstallSucceeded": release.EventRemoved,
}

// fluxVersionPrefix is how much of the version goes into deployment.id.
const fluxVersionPrefix = 12

func (fluxSource) Parse(d *Delivery) ([]release.Event, error) {
	doc, err := decodeObject(d.Body, "")
	if err != nil {
		return nil, err
	}
	obj, err := doc.object("involvedObject", "")
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, release.Fieldf("involvedObject", release.RuleRequired, "is required")
	}
	kind, err := obj.str("kind", "involvedObject")
	if err != nil {
		return nil, err
	}
	switch kind {
	case "HelmRelease", "Kustomization":
	case "":
		return nil, release.Fieldf("involvedObject.kind", release.RuleRequired, "is required")
	default:
		return nil, ignored("Flux %s events are not deploy events (only HelmRelease and Kustomization)", truncate(kind, 64))
	}
	reason, err := doc.str("reason", "")
	if err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, release.Fieldf("reason", release.RuleRequired, "is required")
	}
	typ, ok := fluxReasons[reason]
	if !ok {
		return nil, ignored("Flux reason %q is not a deploy event", truncate(reason, 64))
	}
	name, err := obj.str("name", "involvedObject")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		return nil, release.Fieldf("involvedObject.name", release.RuleRequired, "is required")
	}
	namespace, err := obj.str("namespace", "involvedObject")
	if err != nil {
		return nil, err
	}
	meta, err := fluxMetadata(d, doc)
	if err != nil {
		return nil, err
	}

	sum := sha256.Sum256(d.Body)
	ev := release.Event{
		ID:         "flux-" + hex.EncodeToString(sum[:])[:32],
		Type:       typ,
		Source:     "flux",
		ReceivedAt: d.ReceivedAt,
		Attributes: map[string]string{},
	}
	attrs := ev.Attributes
	attrs[release.AttrServiceName] = firstNonEmpty(meta[release.AttrServiceName], name)
	setAttr(attrs, release.AttrServiceNamespace, meta[release.AttrServiceNamespace])

	version := fluxRevision(attrs, meta["revision"])
	// originRevision is the Git commit an OCI artifact was built from
	// (flux push artifact --revision): it is the VCS revision.
	if origin := meta["originRevision"]; origin != "" {
		if ref, algo, digest, ok := cutRevisionDigest(origin); ok && algo == "sha1" {
			attrs[release.AttrVCSRevision] = digest
			setAttr(attrs, release.AttrVCSRefName, ref)
		} else if isHex(origin) && (len(origin) == 40 || len(origin) == 64) {
			attrs[release.AttrVCSRevision] = origin
		}
	}
	version = firstNonEmpty(meta[release.AttrServiceVersion], version)
	if version == "" {
		return nil, release.Fieldf("metadata.revision", release.RuleRequired,
			"is required (or metadata service.version): it is the service version")
	}
	attrs[release.AttrServiceVersion] = version

	env := firstNonEmpty(meta[release.AttrDeploymentEnvironment], meta["environment"], meta["env"])
	if env == "" {
		return nil, release.Fieldf("metadata.environment", release.RuleRequired,
			"is required: set it in the Alert's spec.eventMetadata (environment: <name>)")
	}
	attrs[release.AttrDeploymentEnvironment] = env
	attrs[release.AttrDeploymentID] = "flux-" + namespace + "-" + name + "-" + truncate(version, fluxVersionPrefix)
	if cluster := firstNonEmpty(meta[release.AttrK8sClusterName], meta["cluster"]); cluster != "" {
		ev.Release.Scope = map[string]string{release.AttrK8sClusterName: cluster}
	}

	// The timestamp is optional: unreadable, the receive time stands in.
	ts, err := doc.str("timestamp", "")
	if err != nil {
		d.drop(err)
	}
	if ts != "" {
		if ev.Time, err = parseTime(ts, "timestamp"); err != nil {
			d.drop(err)
		}
	}
	return []release.Event{ev}, nil
}

// fluxRevision maps a Flux revision to the service version, setting the VCS
// and OCI attributes it carries:
//   - "<branch>@sha1:<commit>" (Git): the commit is the version;
//   - "<tag>@sha1:<commit>" or "<tag>@sha256:<digest>" (a Git tag or an OCI
//     artifact's tag) where the tag is a version: the tag is the version;
//   - "latest@sha256:<digest>" (OCI): the digest;
//   - "sha256:<digest>" (an OCI artifact pinned by digest): as it is;
//   - "<branch>/<commit>" (Flux before v2.0): the commit;
//   - anything else (a Helm chart version, "1.2.3"): as it is.
func fluxRevision(attrs map[string]string, revision string) string {
	if ref, algo, digest, ok := cutRevisionDigest(revision); ok {
		ref = strings.TrimPrefix(strings.TrimPrefix(ref, "refs/tags/"), "refs/heads/")
		switch algo {
		case "sha1":
			setAttr(attrs, release.AttrVCSRevision, digest)
			setAttr(attrs, release.AttrVCSRefName, ref)
		case "sha256":
			setAttr(attrs, release.AttrOCIManifestDigest, "sha256:"+digest)
		}
		if looksLikeVersion(ref) {
			return ref
		}
		return digest
	}
	if digest, ok := strings.CutPrefix(revision, "sha256:"); ok && digest != "" {
		setAttr(attrs, release.AttrOCIManifestDigest, revision)
		return revision
	}
	if ref, sha, ok := strings.Cut(revision, "/"); ok && isHex(sha) && len(sha) == 40 {
		setAttr(attrs, release.AttrVCSRevision, sha)
		setAttr(attrs, release.AttrVCSRefName, ref)
		return sha
	}
	return revision
}

// looksLikeVersion reports a tag that names a version ("v1.2.3", "6.1.6",
// "2024.05.1-rc1"): a digit first, after an optional "v". Branch names and
// "latest" are not versions.
func looksLikeVersion(ref string) bool {
	ref = strings.TrimPrefix(ref, "v")
	return ref != "" && ref[0] >= '0' && ref[0] <= '9'
}

// fluxMetadata returns the event's metadata with trimmed values. Keys that
// carry a group prefix ("kustomize.toolkit.fluxcd.io/revision") are also
// reachable by their bare name; a bare key wins over a prefixed one. A value
// that is not a scalar is dropped with a warning: the fields it could
// matter for (revision, environment) are then reported missing by name.
func fluxMetadata(d *Delivery, doc jsonObject) (map[string]string, error) {
	obj, err := doc.object("metadata", "")
	if err != nil {
		return nil, err
	}
	raw := make(map[string]string, len(obj))
	for _, k := range sortedMembers(obj) {
		v, err := obj.scalar(k, "metadata")
		if err != nil {
			d.drop(err)
			continue
		}
		raw[k] = v
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first of several prefixed keys wins, every time
	meta := make(map[string]string, len(raw))
	for _, k := range keys {
		v := raw[k]
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			bare := k[i+1:]
			_, hasBare := raw[bare]
			_, seen := meta[bare]
			if !hasBare && !seen {
				meta[bare] = strings.TrimSpace(v)
			}
		}
		meta[k] = strings.TrimSpace(v)
	}
	return meta, nil
}

// cutRevisionDigest splits a Flux revision "<ref>@<algo>:<digest>" into
// ref, algorithm and digest for the sha1 and sha256 algorithms.
func cutRevisionDigest(revision string) (ref, algo, digest string, ok bool) {
	for _, a := range []string{"sha1", "sha256"} {
		if i := strings.LastIndex(revision, "@"+a+":"); i >= 0 {
			if digest = revision[i+len(a)+2:]; digest != "" {
				return revision[:i], a, digest, true
			}
		}
	}
	return "", "", "", false
}
