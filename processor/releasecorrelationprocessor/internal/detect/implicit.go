package detect

import (
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Implicit releases: teams without deploy webhooks still deploy. With
// detection::implicit_releases on, a new service.version appearing in the
// telemetry of an established service starts an evaluation on its own,
// recorded in the store with source "observed"; its rollout ends when the
// telemetry says so (the old version stops serving: succeeded; the new one
// disappears while the old serves on: rolled back).

// ObservedChange asks the store to record an implicit release, or the end
// of its rollout.
type ObservedChange struct {
	// Type is started, succeeded or rolled_back.
	Type    release.EventType
	Service release.ServiceKey
	// Scope is the release key's canonical scope ("k=v,..."), usually empty.
	Scope string
	// Version and PreviousVersion are as the telemetry writes them.
	Version, PreviousVersion string
	// At is when the version was first seen (started) or the change seen.
	At time.Time
	// DeploymentID names the implicit release (lifecycle changes only).
	DeploymentID string
}

const (
	// implicitMinRequests: a new version must serve this many requests
	// before an implicit release starts (one stray span is no rollout).
	implicitMinRequests = 10
	// establishedMinRequests: the version it replaces must have served at
	// least this much, recently.
	establishedMinRequests = 100
	// implicitBurst implicit releases may start per minute at most.
	implicitBurst = 30
	// maxNewcomers bounds the versions waiting to qualify.
	maxNewcomers = 1024
	// newcomerPatience: a new version that does not qualify within this
	// long is forgotten.
	newcomerPatience = 5 * time.Minute
	// observedGone: a version that sent nothing for this long no longer
	// serves.
	observedGone = 2 * time.Minute
)

// SetObservedSink receives implicit releases and the end of their rollouts.
func (d *Detector) SetObservedSink(sink func(ObservedChange)) { d.observed = sink }

// establishedLocked returns the service's recently seen version with the
// most traffic, if it served enough to be established. Called with armsMu
// held.
func (d *Detector) establishedLocked(ss serviceScope, now time.Time) *Arm {
	var best *Arm
	var bestTotal float64
	for _, a := range d.byService[ss] {
		if a.key.Version == Unversioned {
			continue
		}
		a.mu.Lock()
		seen, total := a.lastSeen, a.total
		a.mu.Unlock()
		if now.Sub(seen) > observedGone || total < establishedMinRequests {
			continue
		}
		if best == nil || total > bestTotal {
			best, bestTotal = a, total
		}
	}
	return best
}

// implicitChanges starts implicit releases for new versions that qualify,
// and ends the rollouts of implicit releases that the telemetry says are
// over. Called from Tick, after the arms rotated.
func (d *Detector) implicitChanges(now time.Time, evals []*evaluation) []ObservedChange {
	if !d.cfg.ImplicitReleases || d.observed == nil {
		return nil
	}
	var out []ObservedChange
	evaluated := make(map[ArmKey]bool, len(evals))
	for _, ev := range evals {
		evaluated[ev.cand] = true
		if ev.rel.Source != release.SourceObserved || ev.rel.Status != release.StatusInProgress || ev.lifecycleSent {
			continue
		}
		cand, ctrl := d.lookup(ev.cand), d.lookup(ev.ctrl)
		if cand == nil || ctrl == nil {
			continue
		}
		candGone, ctrlGone := now.Sub(cand.seen()) > observedGone, now.Sub(ctrl.seen()) > observedGone
		ch := ObservedChange{Service: ev.cand.Service, Scope: ev.cand.Scope, Version: ev.rel.Version(),
			PreviousVersion: ev.rel.Release.PreviousVersion, At: now, DeploymentID: ev.rel.ID}
		switch {
		case ctrlGone && !candGone:
			ch.Type = release.EventSucceeded
		case candGone && !ctrlGone:
			ch.Type = release.EventRolledBack
		default:
			continue
		}
		ev.lifecycleSent = true
		out = append(out, ch)
	}

	d.armsMu.Lock()
	defer d.armsMu.Unlock()
	d.implicitTokens = min(implicitBurst, d.implicitTokens+now.Sub(d.implicitRefill).Minutes()*implicitBurst)
	d.implicitRefill = now
	keep := d.newcomers[:0]
	for _, a := range d.newcomers {
		if d.arms[a.key] != a || evaluated[a.key] || now.Sub(a.firstSeen) > newcomerPatience {
			continue
		}
		a.mu.Lock()
		total := a.total
		a.mu.Unlock()
		if total < implicitMinRequests || d.implicitTokens < 1 {
			keep = append(keep, a)
			continue
		}
		est := d.establishedLocked(serviceScope{a.key.Service, a.key.Scope}, now)
		if est == nil || est == a {
			continue
		}
		d.implicitTokens--
		d.implicitTotal++
		out = append(out, ObservedChange{Type: release.EventStarted, Service: a.key.Service, Scope: a.key.Scope,
			Version: a.label, PreviousVersion: est.label, At: a.firstSeen})
	}
	d.newcomers = keep
	return out
}
