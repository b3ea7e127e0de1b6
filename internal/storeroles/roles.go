// Package storeroles is the contract between the release store extension
// and the components that use it. Each component asks the store for the
// few roles it needs (a lookup to stamp with, a place to publish decisions,
// one to record outcomes, ...) rather than for the extension's own types,
// so a component depends on what it uses and the store can change behind
// the roles.
package storeroles

import (
	"context"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/pgshared"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// ServiceLookup gives the hot-path view of a service: the processor stamps
// telemetry with it and checks what is deployed.
type ServiceLookup interface {
	// Service returns the current view of a service in an environment, or
	// nil. It takes no lock and allocates nothing: it is called per
	// resource.
	Service(k release.ServiceKey) *release.ServiceView
}

// ReleaseReader reads releases by id, and those live now.
type ReleaseReader interface {
	// Release returns a release by deployment id.
	Release(id string) (*release.Release, bool)
	// Live returns the releases that are live (rolling out or rolled out).
	Live() []*release.Release
}

// DecisionReader reads a decision and what became of it.
type DecisionReader interface {
	// Decision returns a decision and its outcomes.
	Decision(id string) (*release.Decision, []*release.ActionOutcome, bool)
}

// EventRecorder records deploy events: the receiver's deliveries and the
// releases the processor sees in the telemetry.
type EventRecorder interface {
	// Record persists and applies deploy events, all or none. Events
	// already seen within the de-duplication window come back as
	// duplicates and change nothing. An error wrapping the store's
	// ErrUnavailable means nothing was stored; a *release.FieldError means
	// an event contradicts the store.
	Record(ctx context.Context, events []release.Event) ([]Outcome, error)
}

// Outcome is what Record did with one event.
type Outcome struct {
	Duplicate bool
	// Release is the release after the event (nil for a duplicate or an
	// event that changed nothing).
	Release *release.Release
}

// DecisionPublisher publishes decisions: the processor's own, and those a
// gateway's exporter receives from agents.
type DecisionPublisher interface {
	// PublishDecision records a decision and notifies subscribers. It
	// returns false, and notifies nobody, when the decision id is known.
	PublishDecision(ctx context.Context, d *release.Decision) (bool, error)
}

// OutcomeRecorder records what became of a decision on a target.
type OutcomeRecorder interface {
	RecordOutcome(ctx context.Context, o release.ActionOutcome) error
}

// SeriesRecorder keeps a release's evaluation series for the operator page.
type SeriesRecorder interface {
	// RecordSeries adds a point to a release's evaluation series (kept in
	// memory, bounded: it is telemetry, re-made after a restart).
	RecordSeries(releaseID string, p release.SeriesPoint)
}

// ChangeSubscriber announces the store's changes.
type ChangeSubscriber interface {
	// Subscribe registers callbacks for changes; the returned function
	// unsubscribes.
	Subscribe(s Subscriber) (unsubscribe func())
}

// ReleaseChange tells subscribers what an accepted event did.
type ReleaseChange struct {
	Event   release.Event
	Release *release.Release
	// Touched are other releases whose status changed as a consequence.
	Touched []*release.Release
	// Evicted are the ids of releases the store's max_keys cap removed to
	// make room for the change: their evaluations end with them.
	Evicted []string
}

// Subscriber receives changes. Callbacks run synchronously after the change
// is persisted, outside the store's locks, in the order of the changes;
// nil callbacks are skipped.
type Subscriber struct {
	OnRelease    func(ReleaseChange)
	OnAnnotation func(release.Annotation, *release.Release)
	OnDecision   func(*release.Decision)
	OnOutcome    func(release.ActionOutcome)
	// OnReview is called when a person approves or dismisses a decision.
	OnReview func(*release.Decision, release.Review)
}

// FleetMember is a store that may be shared by a fleet of collectors.
type FleetMember interface {
	// Fleet returns the store's fleet, or nil when it is not shared.
	Fleet() Fleet
}

// Fleet is what a store shared by a fleet offers the other components: the
// replica's name and the shared database, for the processor's evidence
// exchange and leases and the exporter's ledger.
type Fleet interface {
	// Replica is this collector's name in the fleet.
	Replica() string
	// LeaseDuration is how long a replica keeps deciding without renewing.
	LeaseDuration() time.Duration
	// DB returns the shared database, or why it cannot be used now.
	DB() (*pgshared.DB, error)
}

// FleetOf returns the fleet of a store that has one, else nil: a store
// that is not a FleetMember is never shared.
func FleetOf(store any) Fleet {
	if m, ok := store.(FleetMember); ok {
		return m.Fleet()
	}
	return nil
}
