// Package stamp matches a resource to its release and writes the release's
// identity onto it. It works per resource, never per span or data point:
// every span, data point and log record of a resource shares its release.
package stamp

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Role is what a resource's version is to its release key right now.
type Role string

const (
	// RoleCandidate: the version rolling out, under evaluation.
	RoleCandidate Role = "candidate"
	// RoleControl: the version being replaced, still serving next to the
	// candidate.
	RoleControl Role = "control"
	// RoleStable: the live version, no rollout in progress.
	RoleStable Role = "stable"
	// RoleUnknown: the service has release state but this resource's
	// version is none of the live ones, or it has no version while two
	// versions are live.
	RoleUnknown Role = "unknown"
)

// Field is a stampable attribute.
type Field string

// The attributes the processor can stamp. Names are semantic conventions
// where one exists, release.* otherwise.
const (
	FieldDeploymentID      Field = release.AttrDeploymentID
	FieldRole              Field = release.AttrReleaseRole
	FieldServiceVersion    Field = release.AttrServiceVersion
	FieldVCSRevision       Field = release.AttrVCSRevision
	FieldVCSRefName        Field = release.AttrVCSRefName
	FieldVCSRepositoryURL  Field = release.AttrVCSRepositoryURL
	FieldPipelineRunID     Field = release.AttrCICDPipelineRunID
	FieldPipelineName      Field = release.AttrCICDPipelineName
	FieldPreviousVersion   Field = release.AttrReleasePreviousVersion
	FieldStrategy          Field = release.AttrReleaseStrategy
	FieldRolloutPercentage Field = release.AttrReleaseRolloutPercentage
	FieldRisk              Field = release.AttrReleaseRisk
	FieldOwner             Field = release.AttrReleaseOwner
)

// AllFields lists every stampable field, in stamping order.
var AllFields = []Field{
	FieldDeploymentID, FieldRole, FieldServiceVersion, FieldVCSRevision, FieldVCSRefName,
	FieldVCSRepositoryURL, FieldPipelineRunID, FieldPipelineName, FieldPreviousVersion,
	FieldStrategy, FieldRolloutPercentage, FieldRisk, FieldOwner,
}

// MetricFields are the default for metrics: fixed for the life of a
// release, so backends do not see new series as a rollout progresses.
var MetricFields = []Field{FieldDeploymentID, FieldRole}

// Known reports whether f is a stampable field.
func Known(f Field) bool {
	for _, k := range AllFields {
		if k == f {
			return true
		}
	}
	return false
}

// Match is a resource's release.
type Match struct {
	// Key is the matched release key's view; nil when the store knows
	// nothing of the service in its environment and scope.
	Key *release.KeyView
	// Release is the release of the resource's version; nil for RoleUnknown
	// and for a control the store never saw deployed.
	Release *release.Release
	Role    Role
	// Inferred is set when the resource had no service.version and the
	// version was taken from the key's only live version or from a hint.
	Inferred bool
	// Version is the resource's normalised version: its service.version,
	// else the hint given to Match, else the inferred live version; empty
	// when it cannot be told.
	Version string
	// Label is the version as written (Version is normalised).
	Label string
	// Service identifies the service in its environment.
	Service release.ServiceKey
}

// Stamper matches resources and stamps them.
type Stamper struct {
	lookup func(release.ServiceKey) *release.ServiceView
	// defaultEnvironment is used for resources without an environment.
	defaultEnvironment string
	// aliases map lower-cased environment names to canonical ones, the
	// table deploy events are normalised with, so that telemetry saying
	// "prod" meets the release stored as "production".
	aliases   map[string]string
	overwrite bool
}

// New returns a Stamper reading release state through lookup.
func New(lookup func(release.ServiceKey) *release.ServiceView, defaultEnvironment string, aliases map[string]string, overwrite bool) *Stamper {
	return &Stamper{lookup: lookup, defaultEnvironment: defaultEnvironment, aliases: aliases, overwrite: overwrite}
}

func str(attrs pcommon.Map, name string) string {
	if v, ok := attrs.Get(name); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// Environment returns the canonical environment of a resource.
func (s *Stamper) Environment(attrs pcommon.Map) string {
	env := str(attrs, release.AttrDeploymentEnvironment)
	if env == "" {
		env = str(attrs, release.AttrDeploymentEnvironmentDeprecated)
	}
	if env == "" {
		return s.defaultEnvironment
	}
	return release.CanonicalEnvironment(env, s.aliases)
}

// Hinter tells the version of a resource without service.version, learned
// from its pod's other signals.
type Hinter interface {
	VersionHint(release.ServiceKey, pcommon.Map) string
}

// Match finds the resource's service, release key and role. hints, when not
// nil, tells the version of a resource without service.version. ok is false
// only for a resource without service.name; m.Key is nil when the store
// knows nothing of the service in its environment and scope.
func (s *Stamper) Match(attrs pcommon.Map, hints Hinter) (m Match, ok bool) {
	name := str(attrs, release.AttrServiceName)
	if name == "" {
		return m, false
	}
	m.Service = release.ServiceKey{Namespace: str(attrs, release.AttrServiceNamespace), Name: name, Environment: s.Environment(attrs)}
	m.Label = str(attrs, release.AttrServiceVersion)
	m.Version = release.NormalizeVersion(m.Label)
	if m.Version == "" && hints != nil {
		if h := hints.VersionHint(m.Service, attrs); h != "" {
			m.Version, m.Label, m.Inferred = h, h, true
		}
	}
	view := s.lookup(m.Service)
	if view == nil {
		return m, true
	}
	for i := range view.Keys {
		if scopeMatches(attrs, view.Keys[i].Scope) {
			m.Key = &view.Keys[i]
			break
		}
	}
	if m.Key == nil || m.Key.Active == nil {
		return m, true
	}
	m.Role = RoleUnknown
	active, control := m.Key.Active, m.Key.Control
	activeVersion := release.NormalizeVersion(active.Version())
	// The version replaced, while the active release rolls out: the store's
	// live previous release, or the version the deploy event names even
	// when the store never saw it deployed.
	controlVersion := ""
	if control != nil {
		controlVersion = release.NormalizeVersion(control.Version())
	} else if active.Status == release.StatusInProgress && active.Release.Strategy != release.StrategyAllAtOnce {
		controlVersion = release.NormalizeVersion(active.Release.PreviousVersion)
	}
	switch {
	case m.Version == "" && (controlVersion == "" || active.Release.Strategy == release.StrategyAllAtOnce):
		// One live version (or an all-at-once deploy, whose telemetry
		// from now on is the new version's): the resource runs it.
		m.Release, m.Role, m.Inferred, m.Version = active, activeRole(active), true, activeVersion
	case m.Version == "":
		// Two live versions and no way to tell: unknown.
	case m.Version == activeVersion:
		m.Release, m.Role = active, activeRole(active)
	case m.Version == controlVersion:
		m.Release, m.Role = control, RoleControl
	}
	if m.Inferred && m.Release != nil {
		// Written as its release writes it.
		m.Label = m.Release.Version()
	}
	return m, true
}

func activeRole(r *release.Release) Role {
	if r.Status == release.StatusInProgress {
		return RoleCandidate
	}
	return RoleStable
}

func scopeMatches(attrs pcommon.Map, scope []release.ScopeAttr) bool {
	for _, sa := range scope {
		if str(attrs, sa.Name) != sa.Value {
			return false
		}
	}
	return true
}

// Apply writes the fields of m onto attrs. Attributes the telemetry already
// carries are left alone unless the stamper overwrites.
func (s *Stamper) Apply(attrs pcommon.Map, m Match, fields []Field) {
	if m.Key == nil || m.Role == "" {
		return
	}
	r := m.Release
	for _, f := range fields {
		switch f {
		case FieldRole:
			s.put(attrs, string(f), string(m.Role))
			continue
		case FieldServiceVersion:
			// Only a version the resource did not say itself: inferred from
			// the only live version, or learned from its pod.
			if m.Inferred {
				s.put(attrs, string(f), m.Label)
			}
			continue
		}
		if r == nil {
			continue
		}
		switch f {
		case FieldDeploymentID:
			s.put(attrs, string(f), r.ID)
		case FieldPreviousVersion:
			s.put(attrs, string(f), r.Release.PreviousVersion)
		case FieldStrategy:
			s.put(attrs, string(f), string(r.Release.Strategy))
		case FieldRisk:
			s.put(attrs, string(f), r.Release.Risk)
		case FieldOwner:
			s.put(attrs, string(f), r.Release.Owner)
		case FieldRolloutPercentage:
			if p := r.Release.RolloutPercentage; p != nil {
				if _, has := attrs.Get(string(f)); !has || s.overwrite {
					attrs.PutDouble(string(f), *p)
				}
			}
		default:
			s.put(attrs, string(f), r.Attributes[string(f)])
		}
	}
}

func (s *Stamper) put(attrs pcommon.Map, name, value string) {
	if value == "" {
		return
	}
	if !s.overwrite {
		if _, has := attrs.Get(name); has {
			return
		}
	}
	attrs.PutStr(name, value)
}
