package release

// Semantic-convention attribute names (semantic-conventions v1.44).
const (
	AttrServiceName           = "service.name"
	AttrServiceNamespace      = "service.namespace"
	AttrServiceVersion        = "service.version"
	AttrDeploymentEnvironment = "deployment.environment.name"
	AttrDeploymentID          = "deployment.id"
	AttrDeploymentName        = "deployment.name"
	AttrDeploymentStatus      = "deployment.status"
	AttrVCSRevision           = "vcs.ref.head.revision"
	AttrVCSRefName            = "vcs.ref.head.name"
	AttrVCSRepositoryURL      = "vcs.repository.url.full"
	AttrVCSChangeID           = "vcs.change.id"
	AttrCICDPipelineName      = "cicd.pipeline.name"
	AttrCICDPipelineRunID     = "cicd.pipeline.run.id"
	AttrCICDPipelineResult    = "cicd.pipeline.result"
	AttrFeatureFlagKey        = "feature_flag.key"
	AttrFeatureFlagVariant    = "feature_flag.result.variant"
	AttrOCIManifestDigest     = "oci.manifest.digest"
	// AttrK8sClusterName is the scope attribute of releases to one cluster
	// (Argo CD's destination, Flux's cluster metadata).
	AttrK8sClusterName = "k8s.cluster.name"
	// AttrDeploymentEnvironmentDeprecated is what deployment.environment.name
	// was called before semantic conventions v1.27; telemetry still sends it.
	AttrDeploymentEnvironmentDeprecated = "deployment.environment"
)

// release.* names: release context that no semantic convention covers. They are
// stamped by the processor and carried by the receiver's log records.
const (
	AttrReleaseEventType         = "release.event.type"
	AttrReleaseEventID           = "release.event.id"
	AttrReleaseSource            = "release.source"
	AttrReleaseReceivedAt        = "release.received_at"
	AttrReleaseStatus            = "release.status"
	AttrReleasePreviousVersion   = "release.previous_version"
	AttrReleaseStrategy          = "release.strategy"
	AttrReleaseRolloutPercentage = "release.rollout.percentage"
	AttrReleaseFeatureFlags      = "release.feature_flags"
	AttrReleaseIntent            = "release.intent"
	AttrReleaseRisk              = "release.risk"
	AttrReleaseOwner             = "release.owner"
	AttrReleaseRole              = "release.role"
	AttrAnnotationLabel          = "release.annotation.label"
	AttrAnnotationLink           = "release.annotation.link"
	AttrAnnotationAuthor         = "release.annotation.author"
	AttrDecisionID               = "release.decision.id"
	AttrDecisionAction           = "release.decision.action"
	AttrDecisionVerdict          = "release.decision.verdict"
	AttrDecisionCause            = "release.decision.cause"
	AttrDecisionConfidence       = "release.decision.confidence"
)

// Log record event names emitted by the receiver.
const (
	EventNameDeployment = "release.deployment"
	EventNameAnnotation = "release.annotation"
	EventNameDecision   = "release.decision"
)

// DeprecatedAttributes maps attribute names that older instrumentation and CI
// integrations still send to their current semantic-convention names.
var DeprecatedAttributes = map[string]string{
	AttrDeploymentEnvironmentDeprecated: AttrDeploymentEnvironment,
	"vcs.repository.ref.revision":       AttrVCSRevision,
	"vcs.repository.change.id":          AttrVCSChangeID,
	"feature_flag.variant":              AttrFeatureFlagVariant,
	"feature_flag.provider_name":        "feature_flag.provider.name",
	"vcs.repository.ref.name":           AttrVCSRefName,
	"vcs.repository.url":                AttrVCSRepositoryURL,
	"cicd.pipeline.run.identifier":      AttrCICDPipelineRunID,
}
