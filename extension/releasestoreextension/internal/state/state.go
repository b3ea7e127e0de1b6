// Package state is the release store's state machine: release histories per
// key, the de-duplication window and the decision log. It is deterministic
// (it reads no clock), so replaying the persisted log rebuilds exactly the
// state that was acknowledged. It is not safe for concurrent use; the
// extension serialises writers and publishes immutable views for readers.
package state

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Limits bound the memory the state can use.
type Limits struct {
	MaxKeys          int
	MaxHistory       int
	MaxDecisions     int
	MaxDedupeEntries int
	DedupeWindow     time.Duration
	MaxAnnotations   int
	MaxEventRefs     int
}

// Evictions counts what the limits removed, by kind.
type Evictions struct {
	Keys, Releases, Decisions, DedupeEntries, Annotations int64
}

type keyState struct {
	key       release.Key
	releases  []*release.Release // oldest first
	updatedAt time.Time
	// gen is the key generation (keys created so far) when an event last
	// touched the key: keys touched within the last MaxKeys/8 generations
	// are spared by eviction.
	gen uint64
	// queue is the eviction queue holding the key; prev and next are its
	// neighbours there.
	queue      *keyQueue
	prev, next *keyState
}

// deliveryID identifies a delivery for de-duplication: its DedupeKey
// hashed (SHA-256, the first 16 bytes). Up to max_dedupe_entries of them
// are held, and as strings they were a third of the objects the garbage
// collector traced on every cycle; as hashes the table holds no pointers.
// SHA-256, not a faster hash, because a sender must not be able to make
// another sender's event look like a duplicate.
type deliveryID [16]byte

func deliveryIDOf(dedupeKey string) deliveryID {
	sum := sha256.Sum256([]byte(dedupeKey))
	return deliveryID(sum[:16])
}

// dedupeEntry is a remembered delivery in the FIFO, its time in Unix
// nanoseconds.
type dedupeEntry struct {
	ID deliveryID
	At int64
}

// dedupeDoc is a dedupeEntry in a snapshot. Snapshots written before
// deliveries were hashed hold the key (k) instead of its hash (h).
type dedupeDoc struct {
	Key  string    `json:"k,omitempty"`
	Hash string    `json:"h,omitempty"`
	At   time.Time `json:"t"`
}

// State holds everything the store knows.
type State struct {
	limits    Limits
	keys      map[release.Key]*keyState
	byService map[release.ServiceKey][]*keyState
	byID      map[string]*keyState
	dedupe    map[deliveryID]int64
	// dedupeOrder is FIFO by arrival; entries whose time no longer matches
	// dedupe[id] are stale and skipped.
	dedupeOrder []dedupeEntry
	// decisions is a queue, oldest first: trimming reslices its head, and
	// append reallocates (keeping only the live tail) as it grows, so each
	// decision costs O(1) amortized.
	decisions []*release.Decision
	// decisionIdx maps a decision id to its sequence number: its index in
	// decisions plus decisionsDropped.
	decisionIdx      map[string]int
	decisionsDropped int
	// outcomes and reviews belong to decisions and go with them.
	outcomes  map[string][]*release.ActionOutcome
	reviews   map[string]*release.Review
	evictions Evictions
	// releaseCount is the number of releases held, kept so that writers
	// need not walk the state.
	releaseCount int
	// evictedServices are the services that lost a key to MaxKeys since
	// the last TakeEvictedServices: their views must be rebuilt.
	evictedServices []release.ServiceKey
	// evictedReleases are the releases of the keys evicted while applying
	// the current event (handed out with its Change).
	evictedReleases []string
	// idle and inProgress are the eviction queues: the keys without and
	// with a release in progress, least recently touched first. keyGen
	// counts the keys created.
	idle, inProgress *keyQueue
	keyGen           uint64
}

// New returns an empty state.
func New(l Limits) *State {
	return &State{
		limits:      l,
		keys:        map[release.Key]*keyState{},
		byService:   map[release.ServiceKey][]*keyState{},
		byID:        map[string]*keyState{},
		dedupe:      map[deliveryID]int64{},
		decisionIdx: map[string]int{},
		outcomes:    map[string][]*release.ActionOutcome{},
		reviews:     map[string]*release.Review{},
		idle:        newKeyQueue(),
		inProgress:  newKeyQueue(),
	}
}

// Evictions returns the running eviction counts.
func (s *State) Evictions() Evictions { return s.evictions }

// TakeEvictedServices returns the services that lost a key to the MaxKeys
// cap since the last call, and forgets them.
func (s *State) TakeEvictedServices() []release.ServiceKey {
	out := s.evictedServices
	s.evictedServices = nil
	return out
}

// Duplicate reports whether the event was already applied within the
// de-duplication window.
func (s *State) Duplicate(e *release.Event) bool {
	at, ok := s.dedupe[deliveryIDOf(e.DedupeKey())]
	return ok && time.Duration(e.ReceivedAt.UnixNano()-at) < s.limits.DedupeWindow
}

// Check reports an event that contradicts what is stored: a deployment id
// already used by another service or environment.
func (s *State) Check(e *release.Event) error {
	ks, ok := s.byID[e.DeploymentID()]
	if !ok {
		return nil
	}
	if k := e.Key(); k != ks.key {
		return release.Fieldf("attributes."+release.AttrDeploymentID, "conflict",
			"deployment %q belongs to %s, not %s", e.DeploymentID(), ks.key, k)
	}
	return nil
}

// Change is the result of applying an event.
type Change struct {
	// Release is the release the event applied to, after the change; nil
	// when the event changed nothing (a removal of an absent service).
	Release *release.Release
	// Touched are the releases whose status changed as a side effect
	// (superseded, removed).
	Touched []*release.Release
	// Evicted are the ids of the releases MaxKeys removed to make room for
	// the event's key.
	Evicted []string
	Service release.ServiceKey
}

// ApplyEvent applies a validated, non-duplicate event.
func (s *State) ApplyEvent(e *release.Event) Change {
	ch := s.applyEvent(e)
	ch.Evicted, s.evictedReleases = s.evictedReleases, nil
	if ks, ok := s.keys[e.Key()]; ok {
		s.touch(ks)
	}
	return ch
}

func (s *State) applyEvent(e *release.Event) Change {
	s.remember(e.DedupeKey(), e.ReceivedAt)
	id := e.DeploymentID()
	ch := Change{Service: e.Key().Service}
	if ks, ok := s.byID[id]; ok {
		i := indexOf(ks.releases, id)
		r := clone(ks.releases[i])
		merge(r, e)
		r.Events = appendRef(r.Events, e, s.limits.MaxEventRefs)
		ch.Touched = s.transition(ks, r, e)
		ks.releases[i] = r
		ks.updatedAt = maxTime(ks.updatedAt, e.Time)
		ch.Release = r
		return ch
	}

	ks := s.keyFor(e.Key(), e.Time)
	ks.updatedAt = maxTime(ks.updatedAt, e.Time)
	switch e.Type {
	case release.EventRolledBack:
		if e.RestoresVersion {
			ch.Release, ch.Touched = s.restore(ks, e)
			return ch
		}
		if i := rollbackTarget(ks, e); i >= 0 {
			r := clone(ks.releases[i])
			r.Events = appendRef(r.Events, e, s.limits.MaxEventRefs)
			r.UpdatedAt = e.Time
			end(r, release.StatusRolledBack, e.Time)
			ks.releases[i] = r
			ch.Release = r
			return ch
		}
	case release.EventRemoved:
		ch.Touched = s.endLive(ks, "", release.StatusRemoved, e.Time)
		if len(ch.Touched) > 0 {
			ch.Release = ch.Touched[len(ch.Touched)-1]
			ch.Touched = ch.Touched[:len(ch.Touched)-1]
		}
		return ch
	}

	r := newRelease(e)
	if r.Release.PreviousVersion == "" {
		// The version replaced is the stable one, even when another
		// rollout is stacked on top of it.
		if prev := newestStable(ks, r.Version()); prev != nil {
			r.Release.PreviousVersion = prev.Version()
		}
	}
	switch e.Type {
	case release.EventStarted, release.EventProgressed:
		r.Status = release.StatusInProgress
		// A new rollout replaces one still in progress: stacked deploys.
		ch.Touched = s.endStatus(ks, release.StatusInProgress, release.StatusSuperseded, e.Time)
	case release.EventSucceeded:
		complete(r, e.Time)
		ch.Touched = s.endLive(ks, "", release.StatusSuperseded, e.Time)
	case release.EventFailed:
		r.CompletedAt = ptr(e.Time)
		end(r, release.StatusFailed, e.Time)
	case release.EventRolledBack:
		end(r, release.StatusRolledBack, e.Time)
	}
	s.addRelease(ks, r)
	ch.Release = r
	return ch
}

// transition moves an existing release to the status its new event reports.
// Terminal statuses never go back to live: late or reordered events for a
// finished release only add to its event list. The one exception is a
// retry: a failed deploy that is started again or succeeds, by an event
// timed at or after the failure, is live again (Flux retries a failed
// reconciliation of the same revision, Argo CD's syncPolicy.retry re-runs
// the same sync). The event's own time decides, so replay agrees.
func (s *State) transition(ks *keyState, r *release.Release, e *release.Event) []*release.Release {
	if r.Status == release.StatusFailed && retries(r, e) {
		return s.reopen(ks, r, e)
	}
	if !r.Status.Live() {
		return nil
	}
	switch e.Type {
	case release.EventSucceeded:
		complete(r, e.Time)
		return s.endLive(ks, r.ID, release.StatusSuperseded, e.Time)
	case release.EventFailed:
		r.CompletedAt = ptr(e.Time)
		end(r, release.StatusFailed, e.Time)
	case release.EventRolledBack:
		end(r, release.StatusRolledBack, e.Time)
	case release.EventRemoved:
		end(r, release.StatusRemoved, e.Time)
		return s.endLive(ks, r.ID, release.StatusRemoved, e.Time)
	}
	return nil
}

// retries reports whether e retries the failed release r: it starts or
// completes the deploy again and is not older than the failure.
func retries(r *release.Release, e *release.Event) bool {
	switch e.Type {
	case release.EventStarted, release.EventProgressed, release.EventSucceeded:
	default:
		return false
	}
	return r.EndedAt == nil || !e.Time.Before(*r.EndedAt)
}

// reopen makes a failed release live again, as a new rollout would be: in
// progress (superseding another rollout in progress) or succeeded
// (superseding every other live release).
func (s *State) reopen(ks *keyState, r *release.Release, e *release.Event) []*release.Release {
	r.EndedAt = nil
	r.CompletedAt = nil
	if e.Type == release.EventSucceeded {
		complete(r, e.Time)
		return s.endLive(ks, r.ID, release.StatusSuperseded, e.Time)
	}
	r.Status = release.StatusInProgress
	var touched []*release.Release
	for i, other := range ks.releases {
		if other.ID == r.ID || other.Status != release.StatusInProgress {
			continue
		}
		c := ended(other, release.StatusSuperseded, e.Time)
		ks.releases[i] = c
		touched = append(touched, c)
	}
	return touched
}

// restore applies a rollback that names the version the service returns to
// (RestoresVersion): the newest rollout of another version (in progress,
// else live) is rolled back, and the named version is live afterwards. A
// release of it that is still live stays so; otherwise the event records it
// as a new, succeeded release. It returns the release the event applied to
// and the ones changed on the side.
func (s *State) restore(ks *keyState, e *release.Event) (*release.Release, []*release.Release) {
	v := release.NormalizeVersion(e.Attributes[release.AttrServiceVersion])
	from, inProgress, live := -1, -1, -1
	for i := len(ks.releases) - 1; i >= 0; i-- {
		r := ks.releases[i]
		if !r.Status.Live() {
			continue
		}
		if release.NormalizeVersion(r.Version()) == v {
			live = i
			continue
		}
		if inProgress < 0 && r.Status == release.StatusInProgress {
			inProgress = i
		}
		if from < 0 {
			from = i
		}
	}
	if inProgress >= 0 {
		from = inProgress
	}
	var rolled *release.Release
	if from >= 0 {
		rolled = clone(ks.releases[from])
		rolled.Events = appendRef(rolled.Events, e, s.limits.MaxEventRefs)
		rolled.UpdatedAt = e.Time
		end(rolled, release.StatusRolledBack, e.Time)
		ks.releases[from] = rolled
	}
	if live >= 0 || v == "" {
		// The version returned to still serves: nothing new to record.
		if rolled == nil {
			return nil, nil
		}
		return rolled, nil
	}
	r := newRelease(e)
	if r.Release.PreviousVersion == "" && rolled != nil {
		r.Release.PreviousVersion = rolled.Version()
	}
	complete(r, e.Time)
	touched := s.endLive(ks, "", release.StatusSuperseded, e.Time)
	if rolled != nil {
		touched = append([]*release.Release{rolled}, touched...)
	}
	s.addRelease(ks, r)
	return r, touched
}

func complete(r *release.Release, at time.Time) {
	r.Status = release.StatusSucceeded
	r.CompletedAt = ptr(at)
	hundred := 100.0
	r.Release.RolloutPercentage = &hundred
}

func end(r *release.Release, status release.Status, at time.Time) {
	r.Status = status
	r.EndedAt = ptr(at)
}

// endLive ends every live release of the key except the one with id keep.
func (s *State) endLive(ks *keyState, keep string, status release.Status, at time.Time) []*release.Release {
	var touched []*release.Release
	for i, r := range ks.releases {
		if r.ID == keep || !r.Status.Live() {
			continue
		}
		c := ended(r, status, at)
		ks.releases[i] = c
		touched = append(touched, c)
	}
	return touched
}

// endStatus ends the releases of the key that are in status from.
func (s *State) endStatus(ks *keyState, from, to release.Status, at time.Time) []*release.Release {
	var touched []*release.Release
	for i, r := range ks.releases {
		if r.Status != from {
			continue
		}
		c := ended(r, to, at)
		ks.releases[i] = c
		touched = append(touched, c)
	}
	return touched
}

// rollbackTarget finds the release a rolled_back event without a known
// deployment id refers to: the newest release in progress of the same
// version (native semantics: the event names the version rolled back), else
// the newest one in progress (CDEvents and Flux semantics: the event names
// the version rolled back to, which is live next to the rollout), else the
// newest live release of the same version (a native rollback of a completed
// release). -1 when there is none.
func rollbackTarget(ks *keyState, e *release.Event) int {
	v := release.NormalizeVersion(e.Attributes[release.AttrServiceVersion])
	match, inProgress := -1, -1
	for i := len(ks.releases) - 1; i >= 0; i-- {
		r := ks.releases[i]
		if match < 0 && r.Status.Live() && release.NormalizeVersion(r.Version()) == v {
			match = i
		}
		if inProgress < 0 && r.Status == release.StatusInProgress {
			inProgress = i
		}
	}
	if match >= 0 && ks.releases[match].Status == release.StatusInProgress {
		return match
	}
	if inProgress >= 0 {
		return inProgress
	}
	return match
}

// newestStable is the newest fully rolled-out live release of another
// version, else the newest live one of another version.
func newestStable(ks *keyState, version string) *release.Release {
	v := release.NormalizeVersion(version)
	var live *release.Release
	for i := len(ks.releases) - 1; i >= 0; i-- {
		r := ks.releases[i]
		if !r.Status.Live() || release.NormalizeVersion(r.Version()) == v {
			continue
		}
		if r.Status == release.StatusSucceeded {
			return r
		}
		if live == nil {
			live = r
		}
	}
	return live
}

func newRelease(e *release.Event) *release.Release {
	attrs := make(map[string]string, len(e.Attributes)+1)
	for k, v := range e.Attributes {
		attrs[k] = v
	}
	attrs[release.AttrDeploymentID] = e.DeploymentID()
	r := &release.Release{
		ID:         e.DeploymentID(),
		Attributes: attrs,
		Release:    e.Release,
		Source:     e.Source,
		StartedAt:  e.Time,
		UpdatedAt:  e.Time,
		Events:     []release.EventRef{ref(e)},
	}
	// The release owns its context: nothing the caller keeps may alias it.
	r.Release.FeatureFlags = append([]release.FeatureFlag(nil), e.Release.FeatureFlags...)
	if e.Release.Scope != nil {
		r.Release.Scope = make(map[string]string, len(e.Release.Scope))
		for k, v := range e.Release.Scope {
			r.Release.Scope[k] = v
		}
	}
	if p := e.Release.RolloutPercentage; p != nil {
		pct := *p
		r.Release.RolloutPercentage = &pct
	}
	return r
}

// identity attributes are fixed by a release's first event.
var identity = map[string]bool{
	release.AttrServiceName: true, release.AttrServiceNamespace: true, release.AttrServiceVersion: true,
	release.AttrDeploymentEnvironment: true, release.AttrDeploymentID: true,
}

// merge adds what a later event of the same deployment says.
func merge(r *release.Release, e *release.Event) {
	for k, v := range e.Attributes {
		if !identity[k] {
			r.Attributes[k] = v
		}
	}
	c := &r.Release
	n := e.Release
	if n.PreviousVersion != "" {
		c.PreviousVersion = n.PreviousVersion
	}
	if n.Strategy != "" {
		c.Strategy = n.Strategy
	}
	if n.RolloutPercentage != nil {
		p := *n.RolloutPercentage
		c.RolloutPercentage = &p
	}
	if len(n.FeatureFlags) > 0 {
		c.FeatureFlags = append([]release.FeatureFlag(nil), n.FeatureFlags...)
	}
	if n.Intent != "" {
		c.Intent = n.Intent
	}
	if n.Risk != "" {
		c.Risk = n.Risk
	}
	if n.Owner != "" {
		c.Owner = n.Owner
	}
	if e.Time.After(r.UpdatedAt) {
		r.UpdatedAt = e.Time
	}
}

func ref(e *release.Event) release.EventRef {
	return release.EventRef{
		ID: e.ID, Type: e.Type, Source: e.Source, Time: e.Time, ReceivedAt: e.ReceivedAt,
		RolloutPercentage: e.Release.RolloutPercentage,
	}
}

// appendRef adds an event to a release's list, keeping the first event (how
// the release began) and the newest ones within max.
func appendRef(refs []release.EventRef, e *release.Event, max int) []release.EventRef {
	refs = append(refs, ref(e))
	if max > 1 && len(refs) > max {
		refs = append(refs[:1], refs[len(refs)-max+1:]...)
	}
	return refs
}

// clone copies a release deeply enough that the copy can be changed without
// touching the published original.
func clone(r *release.Release) *release.Release {
	c := *r
	c.Attributes = make(map[string]string, len(r.Attributes))
	for k, v := range r.Attributes {
		c.Attributes[k] = v
	}
	c.Events = append(make([]release.EventRef, 0, len(r.Events)+1), r.Events...)
	c.Annotations = append([]release.Annotation(nil), r.Annotations...)
	return &c
}

// ended returns a copy of r ended in status at, by another event than its
// own. The copy shares r's attributes, events and annotations: nothing
// changes those in place (every change to them starts with clone).
func ended(r *release.Release, status release.Status, at time.Time) *release.Release {
	c := *r
	end(&c, status, at)
	c.UpdatedAt = at
	return &c
}

func (s *State) keyFor(k release.Key, at time.Time) *keyState {
	if ks, ok := s.keys[k]; ok {
		return ks
	}
	if s.limits.MaxKeys > 0 && len(s.keys) >= s.limits.MaxKeys {
		s.evictKey()
	}
	ks := s.addKey(k, at)
	s.keyGen++
	s.touch(ks)
	return ks
}

func (s *State) addKey(k release.Key, at time.Time) *keyState {
	ks := &keyState{key: k, updatedAt: at}
	s.keys[k] = ks
	s.byService[k.Service] = append(s.byService[k.Service], ks)
	return ks
}

// touch records that an event changed the key: it becomes the most
// recently touched key of the queue its releases now put it in.
func (s *State) touch(ks *keyState) {
	ks.gen = s.keyGen
	s.enqueue(ks)
}

func (s *State) enqueue(ks *keyState) {
	ks.unlink()
	if hasInProgress(ks) {
		s.inProgress.pushBack(ks)
	} else {
		s.idle.pushBack(ks)
	}
}

// evictKey drops the key least useful to keep, in this order:
//   - the least recently touched key with no release in progress that was
//     not touched within the last MaxKeys/8 key generations;
//   - else the least recently touched key with a rollout in progress that
//     was not touched within them (a stale rollout);
//   - else, when every key is that recent, the least recently touched one,
//     idle first.
//
// So a burst of new services neither pushes out a release under evaluation
// while an idle key can go, nor evicts what it has just created (a stable
// release a canary needs as its control). Each step is O(1).
func (s *State) evictKey() {
	victim := s.evictionVictim()
	if victim == nil {
		return
	}
	s.noteEvicted(victim)
	s.dropKey(victim)
	s.evictedServices = append(s.evictedServices, victim.key.Service)
	s.releaseCount -= len(victim.releases)
	s.evictions.Keys++
	s.evictions.Releases += int64(len(victim.releases))
}

func (s *State) evictionVictim() *keyState {
	idle, inProgress := s.idle.front(), s.inProgress.front()
	switch {
	case idle != nil && !s.recent(idle):
		return idle
	case inProgress != nil && !s.recent(inProgress):
		return inProgress
	case idle != nil:
		return idle
	}
	return inProgress
}

// recent reports whether the key was touched within the last MaxKeys/8
// key generations.
func (s *State) recent(ks *keyState) bool {
	return s.keyGen-ks.gen < uint64(s.limits.MaxKeys/8)
}

func (s *State) dropKey(ks *keyState) {
	delete(s.keys, ks.key)
	ks.unlink()
	list := s.byService[ks.key.Service]
	for i, other := range list {
		if other == ks {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byService, ks.key.Service)
	} else {
		s.byService[ks.key.Service] = list
	}
	for _, r := range ks.releases {
		delete(s.byID, r.ID)
	}
}

// noteEvicted remembers the releases of an evicted key for the Change.
func (s *State) noteEvicted(ks *keyState) {
	for _, r := range ks.releases {
		s.evictedReleases = append(s.evictedReleases, r.ID)
	}
}

func hasInProgress(ks *keyState) bool {
	for _, r := range ks.releases {
		if r.Status == release.StatusInProgress {
			return true
		}
	}
	return false
}

func (s *State) addRelease(ks *keyState, r *release.Release) {
	ks.releases = append(ks.releases, r)
	s.byID[r.ID] = ks
	s.releaseCount++
	if s.limits.MaxHistory <= 0 || len(ks.releases) <= s.limits.MaxHistory {
		return
	}
	// Drop the oldest release that is no longer live; live ones are what
	// the processor compares.
	drop := 0
	for i, old := range ks.releases {
		if !old.Status.Live() {
			drop = i
			break
		}
	}
	delete(s.byID, ks.releases[drop].ID)
	ks.releases = append(ks.releases[:drop:drop], ks.releases[drop+1:]...)
	s.releaseCount--
	s.evictions.Releases++
}

func (s *State) remember(key string, at time.Time) {
	id, ns := deliveryIDOf(key), at.UnixNano()
	s.dedupe[id] = ns
	s.dedupeOrder = append(s.dedupeOrder, dedupeEntry{ID: id, At: ns})
	s.expireDedupe(ns)
}

// expireDedupe forgets delivery ids older than the window, and the oldest
// ones beyond the cap.
func (s *State) expireDedupe(now int64) {
	n := 0
	for n < len(s.dedupeOrder) {
		e := s.dedupeOrder[n]
		overCap := s.limits.MaxDedupeEntries > 0 && len(s.dedupe) > s.limits.MaxDedupeEntries
		expired := time.Duration(now-e.At) >= s.limits.DedupeWindow
		stale := s.dedupe[e.ID] != e.At
		if !stale && !overCap && !expired {
			break
		}
		if !stale {
			delete(s.dedupe, e.ID)
			if overCap && !expired {
				s.evictions.DedupeEntries++
			}
		}
		n++
	}
	if n > 0 {
		// Reslice rather than copy: copying the whole FIFO on every event
		// that expires or evicts one entry made each write O(entries)
		// (4 MB moved per event at the default 100,000 cap). append
		// reallocates, and lets go of the dropped head, as the FIFO
		// grows.
		s.dedupeOrder = s.dedupeOrder[n:]
	}
}

// Release returns a release by deployment id.
func (s *State) Release(id string) (*release.Release, bool) {
	ks, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return ks.releases[indexOf(ks.releases, id)], true
}

// ErrNotFound is returned for an unknown release or decision.
var ErrNotFound = fmt.Errorf("not found")

// ApplyAnnotation attaches an annotation to its release.
func (s *State) ApplyAnnotation(a release.Annotation) (*release.Release, error) {
	ks, ok := s.byID[a.ReleaseID]
	if !ok {
		return nil, fmt.Errorf("release %q: %w", a.ReleaseID, ErrNotFound)
	}
	i := indexOf(ks.releases, a.ReleaseID)
	r := clone(ks.releases[i])
	r.Annotations = append(r.Annotations, a)
	if max := s.limits.MaxAnnotations; max > 0 && len(r.Annotations) > max {
		r.Annotations = append(r.Annotations[:0:0], r.Annotations[len(r.Annotations)-max:]...)
		s.evictions.Annotations++
	}
	ks.releases[i] = r
	return r, nil
}

// HasDecision reports whether a decision id is already recorded.
func (s *State) HasDecision(id string) bool {
	_, ok := s.decisionIdx[id]
	return ok
}

// ApplyDecision records a decision; the oldest ones beyond the cap are dropped.
func (s *State) ApplyDecision(d *release.Decision) {
	s.decisionIdx[d.DecisionID] = s.decisionsDropped + len(s.decisions)
	s.decisions = append(s.decisions, d)
	if max := s.limits.MaxDecisions; max > 0 && len(s.decisions) > max {
		drop := len(s.decisions) - max
		s.evictions.Decisions += int64(drop)
		for i, old := range s.decisions[:drop] {
			delete(s.decisionIdx, old.DecisionID)
			delete(s.outcomes, old.DecisionID)
			delete(s.reviews, old.DecisionID)
			s.decisions[i] = nil // let it go before the next reallocation
		}
		s.decisions = s.decisions[drop:]
		s.decisionsDropped += drop
	}
}

// maxOutcomesPerDecision bounds the audit trail of one decision.
const maxOutcomesPerDecision = 64

// Decision returns a decision by id.
func (s *State) Decision(id string) (*release.Decision, bool) {
	seq, ok := s.decisionIdx[id]
	if !ok {
		return nil, false
	}
	return s.decisions[seq-s.decisionsDropped], true
}

// ApplyOutcome records what became of a decision on a target. Outcomes of
// unknown decisions are kept too (a gateway may act on decisions taken by
// an agent).
func (s *State) ApplyOutcome(o *release.ActionOutcome) {
	list := append(s.outcomes[o.DecisionID], o)
	if len(list) > maxOutcomesPerDecision {
		list = list[len(list)-maxOutcomesPerDecision:]
	}
	s.outcomes[o.DecisionID] = list
}

// Outcomes returns a decision's outcomes, oldest first.
func (s *State) Outcomes(decisionID string) []*release.ActionOutcome {
	return append([]*release.ActionOutcome(nil), s.outcomes[decisionID]...)
}

// ApplyReview records a person's answer to a pending decision.
func (s *State) ApplyReview(r *release.Review) { s.reviews[r.DecisionID] = r }

// Review returns the answer given to a decision, if any.
func (s *State) Review(decisionID string) (*release.Review, bool) {
	r, ok := s.reviews[decisionID]
	return r, ok
}

// Pending reports whether a decision waits for approval: some target's
// latest outcome is pending and nobody answered yet.
func (s *State) Pending(decisionID string) bool {
	if _, answered := s.reviews[decisionID]; answered {
		return false
	}
	latest := map[string]release.OutcomeStatus{}
	for _, o := range s.outcomes[decisionID] {
		latest[o.Target] = o.Status
	}
	for _, st := range latest {
		if st == release.OutcomePending {
			return true
		}
	}
	return false
}

// Decisions returns the recorded decisions, newest first, that match.
func (s *State) Decisions(match func(*release.Decision) bool) []*release.Decision {
	out := make([]*release.Decision, 0)
	for i := len(s.decisions) - 1; i >= 0; i-- {
		if match == nil || match(s.decisions[i]) {
			out = append(out, s.decisions[i])
		}
	}
	return out
}

// Releases returns every release that matches, newest first.
func (s *State) Releases(match func(*release.Release) bool) []*release.Release {
	out := make([]*release.Release, 0)
	for _, ks := range s.keys {
		for _, r := range ks.releases {
			if match == nil || match(r) {
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Size is what a snapshot holds, in releases: the releases, the decisions
// and the de-duplication entries (an eighth of a release each, encoded).
func (s *State) Size() int { return s.releaseCount + len(s.decisions) + len(s.dedupe)/8 }

// KeyCount is the number of keys held.
func (s *State) KeyCount() int { return len(s.keys) }

// ReleaseCount is the number of releases held.
func (s *State) ReleaseCount() int { return s.releaseCount }

// Counts summarises the state for internal metrics. It walks every release:
// call it when metrics are collected, not per write.
type Counts struct {
	Keys, Releases, Live, InProgress, Decisions, DedupeEntries int
}

// Counts returns the current sizes.
func (s *State) Counts() Counts {
	c := Counts{Keys: len(s.keys), Decisions: len(s.decisions), DedupeEntries: len(s.dedupe)}
	for _, ks := range s.keys {
		c.Releases += len(ks.releases)
		for _, r := range ks.releases {
			if r.Status.Live() {
				c.Live++
			}
			if r.Status == release.StatusInProgress {
				c.InProgress++
			}
		}
	}
	return c
}

func indexOf(rs []*release.Release, id string) int {
	for i, r := range rs {
		if r.ID == id {
			return i
		}
	}
	panic("state: release index out of sync for " + id)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ptr[T any](v T) *T { return &v }
