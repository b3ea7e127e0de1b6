// Package releaselog turns release state changes into OpenTelemetry log
// records and back: deployments (release.deployment), annotations
// (release.annotation) and decisions (release.decision). The receiver writes
// them; the rollback exporter reads decisions back with DecodeDecision.
package releaselog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// ScopeName is the instrumentation scope of every record written here.
const ScopeName = "github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver"

// resourceAttributes are the identity attributes placed on the resource, so
// backends group release records with the service's own telemetry.
var resourceAttributes = []string{
	release.AttrServiceName, release.AttrServiceNamespace, release.AttrServiceVersion, release.AttrDeploymentEnvironment,
}

func isResourceAttr(k string) bool {
	for _, r := range resourceAttributes {
		if r == k {
			return true
		}
	}
	return false
}

// newRecord appends a resource, scope and record for the given identity.
func newRecord(ld plog.Logs, identity map[string]string, scope map[string]string) plog.LogRecord {
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.EnsureCapacity(len(resourceAttributes) + len(scope))
	for _, k := range resourceAttributes {
		if v := identity[k]; v != "" {
			res.PutStr(k, v)
		}
	}
	var buf [16]string
	for _, k := range sortedKeys(buf[:0], scope) {
		res.PutStr(k, scope[k])
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	return sl.LogRecords().AppendEmpty()
}

// AppendDeployment adds a release.deployment record for an accepted event
// and the release it produced.
func AppendDeployment(ld plog.Logs, e *release.Event, r *release.Release) {
	lr := newRecord(ld, e.Attributes, e.Release.Scope)
	lr.SetEventName(release.EventNameDeployment)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(e.ReceivedAt))
	switch e.Type {
	case release.EventFailed, release.EventRolledBack:
		setSeverity(lr, plog.SeverityNumberWarn)
	default:
		setSeverity(lr, plog.SeverityNumberInfo)
	}
	attrs := lr.Attributes()
	// The event's attributes and up to a dozen of the record's own, in
	// one allocation.
	attrs.EnsureCapacity(len(e.Attributes) + 12)
	var buf [16]string
	for _, k := range sortedKeys(buf[:0], e.Attributes) {
		if !isResourceAttr(k) {
			attrs.PutStr(k, e.Attributes[k])
		}
	}
	attrs.PutStr(release.AttrDeploymentID, e.DeploymentID())
	attrs.PutStr(release.AttrReleaseEventType, string(e.Type))
	attrs.PutStr(release.AttrReleaseEventID, e.ID)
	attrs.PutStr(release.AttrReleaseSource, e.Source)
	attrs.PutStr(release.AttrReleaseReceivedAt, e.ReceivedAt.Format(time.RFC3339Nano))
	ctx := e.Release
	status := release.Status("")
	if r != nil {
		status = r.Status
		ctx = r.Release
		attrs.PutStr(release.AttrReleaseStatus, string(r.Status))
	}
	switch status {
	case release.StatusSucceeded:
		attrs.PutStr(release.AttrDeploymentStatus, "succeeded")
	case release.StatusFailed, release.StatusRolledBack:
		attrs.PutStr(release.AttrDeploymentStatus, "failed")
	}
	putContext(attrs, &ctx)
	lr.Body().SetStr(deploymentSentence(e, &ctx))
}

func putContext(attrs pcommon.Map, c *release.Context) {
	putNonEmpty(attrs, release.AttrReleasePreviousVersion, c.PreviousVersion)
	putNonEmpty(attrs, release.AttrReleaseStrategy, string(c.Strategy))
	if c.RolloutPercentage != nil {
		attrs.PutDouble(release.AttrReleaseRolloutPercentage, *c.RolloutPercentage)
	}
	putNonEmpty(attrs, release.AttrReleaseIntent, c.Intent)
	putNonEmpty(attrs, release.AttrReleaseRisk, c.Risk)
	putNonEmpty(attrs, release.AttrReleaseOwner, c.Owner)
	if len(c.FeatureFlags) > 0 {
		flags := attrs.PutEmptySlice(release.AttrReleaseFeatureFlags)
		for _, f := range c.FeatureFlags {
			if f.Variant != "" {
				flags.AppendEmpty().SetStr(f.Key + "=" + f.Variant)
			} else {
				flags.AppendEmpty().SetStr(f.Key)
			}
		}
		if len(c.FeatureFlags) == 1 {
			attrs.PutStr(release.AttrFeatureFlagKey, c.FeatureFlags[0].Key)
			putNonEmpty(attrs, release.AttrFeatureFlagVariant, c.FeatureFlags[0].Variant)
		}
	}
}

// deploymentSentence is the record body: one line a person reads.
func deploymentSentence(e *release.Event, c *release.Context) string {
	// Appended in one buffer: the record is built for every deploy event.
	b := make([]byte, 0, 160)
	b = append(b, release.QualifiedServiceNameOf(e.Attributes)...)
	b = append(append(b, ' '), e.Attributes[release.AttrServiceVersion]...)
	b = append(append(b, ' '), verb(e.Type)...)
	b = append(append(b, " in "...), e.Attributes[release.AttrDeploymentEnvironment]...)
	if len(c.Scope) > 0 {
		b = append(append(append(b, " ("...), release.CanonicalScope(c.Scope)...), ')')
	}
	detail := func(parts ...string) {
		b = append(b, ", "...)
		for _, p := range parts {
			b = append(b, p...)
		}
	}
	if c.Strategy != "" {
		if c.RolloutPercentage != nil {
			detail(string(c.Strategy), " at ", strconv.FormatFloat(*c.RolloutPercentage, 'f', -1, 64), "%")
		} else {
			detail(string(c.Strategy))
		}
	}
	if c.PreviousVersion != "" {
		detail("replacing ", c.PreviousVersion)
	}
	if c.Risk != "" {
		detail(c.Risk, " risk")
	}
	if c.Owner != "" {
		detail("owner ", c.Owner)
	}
	if c.Intent != "" {
		b = append(append(b, ": "...), c.Intent...)
	}
	return string(b)
}

func verb(t release.EventType) string {
	switch t {
	case release.EventStarted:
		return "started rolling out"
	case release.EventProgressed:
		return "progressed"
	case release.EventSucceeded:
		return "rolled out"
	case release.EventFailed:
		return "failed to deploy"
	case release.EventRolledBack:
		return "was rolled back"
	case release.EventRemoved:
		return "was removed"
	}
	return string(t)
}

// AppendAnnotation adds a release.annotation record.
func AppendAnnotation(ld plog.Logs, a release.Annotation, r *release.Release) {
	lr := newRecord(ld, r.Attributes, r.Release.Scope)
	lr.SetEventName(release.EventNameAnnotation)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(a.CreatedAt))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(a.CreatedAt))
	setSeverity(lr, plog.SeverityNumberInfo)
	attrs := lr.Attributes()
	attrs.PutStr(release.AttrDeploymentID, r.ID)
	attrs.PutStr(release.AttrAnnotationLabel, a.Label)
	putNonEmpty(attrs, release.AttrAnnotationLink, a.Link)
	putNonEmpty(attrs, release.AttrAnnotationAuthor, a.Author)
	putNonEmpty(attrs, release.AttrDecisionID, a.DecisionID)
	body := a.Text
	if body == "" {
		body = a.Link
	}
	lr.Body().SetStr(fmt.Sprintf("%s on %s: %s", a.Label, r.Summary(), body))
}

// AppendDecision adds a release.decision record whose body is the decision
// document as a structured map.
func AppendDecision(ld plog.Logs, d *release.Decision) error {
	lr := newRecord(ld, d.Release, nil)
	lr.SetEventName(release.EventNameDecision)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(d.DecidedAt))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(d.DecidedAt))
	switch {
	case d.Action == release.ActionRollback || d.Action == release.ActionFlagOff || d.Action == release.ActionPause:
		setSeverity(lr, plog.SeverityNumberError)
	case d.Verdict == release.VerdictRegression:
		setSeverity(lr, plog.SeverityNumberWarn)
	default:
		setSeverity(lr, plog.SeverityNumberInfo)
	}
	attrs := lr.Attributes()
	attrs.PutStr(release.AttrDeploymentID, d.ReleaseID())
	attrs.PutStr(release.AttrDecisionID, d.DecisionID)
	attrs.PutStr(release.AttrDecisionAction, string(d.Action))
	attrs.PutStr(release.AttrDecisionVerdict, string(d.Verdict))
	attrs.PutStr(release.AttrDecisionCause, string(d.Cause))
	attrs.PutDouble(release.AttrDecisionConfidence, d.Confidence)
	return setStructuredBody(lr, d)
}

// AppendOutcome adds a release.action record: what became of a decision on
// one target, with the requests sent (or, in dry run, that would have been).
func AppendOutcome(ld plog.Logs, o release.ActionOutcome, d *release.Decision) error {
	identity := map[string]string{}
	if d != nil {
		identity = d.Release
	}
	lr := newRecord(ld, identity, nil)
	lr.SetEventName(release.EventNameAction)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(o.At))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(o.At))
	switch o.Status {
	case release.OutcomeFailed:
		setSeverity(lr, plog.SeverityNumberError)
	case release.OutcomePending, release.OutcomeSkipped:
		setSeverity(lr, plog.SeverityNumberWarn)
	default:
		setSeverity(lr, plog.SeverityNumberInfo)
	}
	attrs := lr.Attributes()
	putNonEmpty(attrs, release.AttrDeploymentID, o.ReleaseID)
	attrs.PutStr(release.AttrDecisionID, o.DecisionID)
	attrs.PutStr(release.AttrActionName, string(o.Action))
	attrs.PutStr(release.AttrActionTarget, o.Target)
	attrs.PutStr(release.AttrActionStatus, string(o.Status))
	return setStructuredBody(lr, o)
}

// setStructuredBody sets the record's body to v's JSON form as a map, so
// backends can query its fields.
func setStructuredBody(lr plog.LogRecord, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	return lr.Body().SetEmptyMap().FromRaw(m)
}

// setSeverity sets the severity number and its text.
func setSeverity(lr plog.LogRecord, n plog.SeverityNumber) {
	lr.SetSeverityNumber(n)
	switch n {
	case plog.SeverityNumberError:
		lr.SetSeverityText("ERROR")
	case plog.SeverityNumberWarn:
		lr.SetSeverityText("WARN")
	default:
		lr.SetSeverityText("INFO")
	}
}

// ErrNotDeployment is returned by DecodeDeployment for other records.
var ErrNotDeployment = errors.New("not a release.deployment record")

// DecodeDeployment reads the deploy event back from a release.deployment
// record (as AppendDeployment wrote it), so that a recording made with the
// file exporter carries its own deploy events.
func DecodeDeployment(resource pcommon.Map, lr plog.LogRecord) (*release.Event, error) {
	if lr.EventName() != release.EventNameDeployment {
		return nil, ErrNotDeployment
	}
	e := &release.Event{Attributes: map[string]string{}, Time: lr.Timestamp().AsTime().UTC(), ReceivedAt: lr.ObservedTimestamp().AsTime().UTC()}
	resource.Range(func(k string, v pcommon.Value) bool {
		if isResourceAttr(k) {
			e.Attributes[k] = v.AsString()
		} else {
			if e.Release.Scope == nil {
				e.Release.Scope = map[string]string{}
			}
			e.Release.Scope[k] = v.AsString()
		}
		return true
	})
	attrs := lr.Attributes()
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	e.Type = release.EventType(str(release.AttrReleaseEventType))
	e.ID = str(release.AttrReleaseEventID)
	e.Source = str(release.AttrReleaseSource)
	c := &e.Release
	c.PreviousVersion = str(release.AttrReleasePreviousVersion)
	c.Strategy = release.Strategy(str(release.AttrReleaseStrategy))
	c.Intent, c.Risk, c.Owner = str(release.AttrReleaseIntent), str(release.AttrReleaseRisk), str(release.AttrReleaseOwner)
	if v, ok := attrs.Get(release.AttrReleaseRolloutPercentage); ok {
		p := v.Double()
		c.RolloutPercentage = &p
	}
	if v, ok := attrs.Get(release.AttrReleaseFeatureFlags); ok && v.Type() == pcommon.ValueTypeSlice {
		for i := 0; i < v.Slice().Len(); i++ {
			key, variant, _ := strings.Cut(v.Slice().At(i).AsString(), "=")
			c.FeatureFlags = append(c.FeatureFlags, release.FeatureFlag{Key: key, Variant: variant})
		}
	}
	attrs.Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, "release.") && k != release.AttrDeploymentStatus && !strings.HasPrefix(k, "feature_flag.") {
			e.Attributes[k] = v.AsString()
		}
		return true
	})
	if e.Type == "" || e.Attributes[release.AttrServiceName] == "" {
		return nil, release.Fieldf("attributes", release.RuleRequired, "a release.deployment record needs release.event.type and service.name")
	}
	return e, nil
}

// ErrNotDecision is returned by DecodeDecision for other records.
var ErrNotDecision = errors.New("not a release.decision record")

// DecodeDecision reads the decision document back from a release.decision
// record (a structured body, or a JSON string body from other producers).
func DecodeDecision(lr plog.LogRecord) (*release.Decision, error) {
	if lr.EventName() != release.EventNameDecision {
		return nil, ErrNotDecision
	}
	var raw []byte
	switch lr.Body().Type() {
	case pcommon.ValueTypeMap:
		var err error
		if raw, err = json.Marshal(lr.Body().Map().AsRaw()); err != nil {
			return nil, err
		}
	case pcommon.ValueTypeStr:
		raw = []byte(lr.Body().Str())
	default:
		return nil, release.Fieldf("body", release.RuleType, "a release.decision body must be a map or a JSON string, not %s", lr.Body().Type())
	}
	var d release.Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, release.Fieldf("body", release.RuleSyntax, "is not a decision document: %v", err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

// sortedKeys appends m's keys to dst, sorted; callers pass a buffer on
// their stack, which holds the few keys of nearly every record.
func sortedKeys(dst []string, m map[string]string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}
