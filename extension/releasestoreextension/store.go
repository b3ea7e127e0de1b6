package releasestoreextension

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/journal"
	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/state"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
)

// Store is everything the release store offers: the roles other
// components find it by (package storeroles), and what only the store's
// own API and page use (annotations, reviews, series).
type Store interface {
	storeroles.EventRecorder
	storeroles.ServiceLookup
	storeroles.ReleaseReader
	storeroles.DecisionReader
	storeroles.DecisionPublisher
	storeroles.OutcomeRecorder
	storeroles.SeriesRecorder
	storeroles.ChangeSubscriber
	// Annotate attaches an engineer's annotation to a release.
	Annotate(ctx context.Context, a release.Annotation) (*release.Release, error)
	// Review approves or dismisses a decision waiting for approval; the
	// answer is persisted and announced to subscribers (OnReview).
	Review(ctx context.Context, r release.Review) (*release.Decision, error)
	// Series returns a release's evaluation series, oldest first.
	Series(releaseID string) []release.SeriesPoint
}

// The store's types under their earlier names, for the store's own code
// and tests; components name them through storeroles and release.
type (
	ServiceView   = release.ServiceView
	KeyView       = release.KeyView
	ScopeAttr     = release.ScopeAttr
	Outcome       = storeroles.Outcome
	ReleaseChange = storeroles.ReleaseChange
	Subscriber    = storeroles.Subscriber
)

var (
	// ErrUnavailable wraps failures to persist: nothing was stored.
	ErrUnavailable = journal.ErrUnavailable
	// ErrNotFound is returned for an unknown release or decision.
	ErrNotFound = state.ErrNotFound
	// ErrNotPending is returned when reviewing a decision that does not
	// wait for approval (or was already answered).
	ErrNotPending = errors.New("the decision is not waiting for approval")
)

// compactEvery is the least log length that is compacted. Beyond it the
// store compacts once the log is twice the state (State.Size): a snapshot
// costs O(state), so it is paid for by as many log records, and the cost of
// snapshots per event stays constant however many services are held (a
// snapshot of 20,000 releases every 4,096 events took half of the writer's
// CPU). The log, replayed at start, stays within twice the state.
const compactEvery = 4096

type releaseStore struct {
	cfg    *Config
	set    extension.Settings
	logger *zap.Logger

	// mu serialises writers and guards state and journal. Readers on the
	// hot path never take it: they read index.
	mu      sync.RWMutex
	state   *state.State
	journal *journal.Journal
	index   *serviceIndex

	subsMu sync.Mutex
	// subs are in subscription order, replaced, never changed in place:
	// every commit reads them.
	subs   []subscription
	nextID int

	metrics *storeMetrics
	// server serves the API and the page (api.go); wg waits for it.
	server *http.Server
	wg     sync.WaitGroup

	// commitToken admits one Record committer at a time; the calls that
	// arrive meanwhile queue in pending and are committed together next.
	commitToken chan struct{}
	pendingMu   sync.Mutex
	pending     []*recordRequest
	// lastBatch is the number of requests the last commit held; guarded
	// by commitToken.
	lastBatch int
	// commits and committed count the commits and the requests they held,
	// for the batch size BenchmarkRecordConcurrent reports; guarded by
	// commitToken.
	commits, committed int
	// scratch holds commit's working sets, cleared and reused by each
	// commit (guarded by commitToken): allocating them per commit was a
	// tenth of the bytes a delivery allocates.
	scratch commitScratch
	// compacting is closed when the background compaction running ends;
	// nil when none runs. Guarded by mu.
	compacting chan struct{}

	// shared is set when the state is shared by a fleet (shared.go).
	shared *sharedLog

	seriesMu sync.Mutex
	series   map[string]*list.Element // of *releaseSeries, in seriesLRU
	// seriesLRU orders the series least recently recorded first: the
	// front is the one to evict.
	seriesLRU list.List
}

type releaseSeries struct {
	releaseID string
	points    []release.SeriesPoint
}

// maxSeriesPoints bounds a release's series (an hour at one point per 5 s),
// maxSeriesReleases the releases that have one.
const (
	maxSeriesPoints   = 720
	maxSeriesReleases = 1000
)

// RecordSeries implements Store.
func (s *releaseStore) RecordSeries(releaseID string, p release.SeriesPoint) {
	s.seriesMu.Lock()
	defer s.seriesMu.Unlock()
	if s.series == nil {
		s.series = map[string]*list.Element{}
	}
	el, ok := s.series[releaseID]
	if ok {
		s.seriesLRU.MoveToBack(el)
	} else {
		if len(s.series) >= maxSeriesReleases {
			// Drop the series recorded longest ago: releases under
			// evaluation get a point every few seconds.
			oldest := s.seriesLRU.Remove(s.seriesLRU.Front()).(*releaseSeries)
			delete(s.series, oldest.releaseID)
			s.metrics.evicted(evictionSeries, 1)
		}
		el = s.seriesLRU.PushBack(&releaseSeries{releaseID: releaseID})
		s.series[releaseID] = el
	}
	rs := el.Value.(*releaseSeries)
	rs.points = append(rs.points, p)
	if drop := len(rs.points) - maxSeriesPoints; drop > 0 {
		// Reslice rather than copy the hour of points each time; append
		// reallocates, keeping only the window, as it grows.
		clear(rs.points[:drop])
		rs.points = rs.points[drop:]
	}
}

// Series implements Store.
func (s *releaseStore) Series(releaseID string) []release.SeriesPoint {
	s.seriesMu.Lock()
	defer s.seriesMu.Unlock()
	el, ok := s.series[releaseID]
	if !ok {
		return nil
	}
	return append([]release.SeriesPoint(nil), el.Value.(*releaseSeries).points...)
}

var (
	_ Store                        = (*releaseStore)(nil)
	_ storeroles.ServiceLookup     = (*releaseStore)(nil)
	_ storeroles.ReleaseReader     = (*releaseStore)(nil)
	_ storeroles.DecisionReader    = (*releaseStore)(nil)
	_ storeroles.EventRecorder     = (*releaseStore)(nil)
	_ storeroles.DecisionPublisher = (*releaseStore)(nil)
	_ storeroles.OutcomeRecorder   = (*releaseStore)(nil)
	_ storeroles.SeriesRecorder    = (*releaseStore)(nil)
	_ storeroles.ChangeSubscriber  = (*releaseStore)(nil)
	_ storeroles.FleetMember       = (*releaseStore)(nil)
)

func newStore(cfg *Config, set extension.Settings) (*releaseStore, error) {
	s := &releaseStore{cfg: cfg, set: set, logger: set.Logger, commitToken: make(chan struct{}, 1)}
	s.scratch.reset()
	s.state = state.New(s.limits())
	m, err := newStoreMetrics(set.TelemetrySettings, s.counts)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.index = newServiceIndex()
	return s, nil
}

func (s *releaseStore) limits() state.Limits {
	return state.Limits{
		MaxKeys: s.cfg.MaxKeys, MaxHistory: s.cfg.MaxHistory, MaxDecisions: s.cfg.MaxDecisions,
		MaxDedupeEntries: s.cfg.MaxDedupeEntries, DedupeWindow: s.cfg.DedupeWindow,
		MaxAnnotations: 100, MaxEventRefs: 100,
	}
}

// Start loads persisted state and starts the API server (api.go).
func (s *releaseStore) Start(ctx context.Context, host component.Host) error {
	if err := s.open(ctx, host); err != nil {
		return err
	}
	return s.startAPI(ctx, host)
}

func (s *releaseStore) open(ctx context.Context, host component.Host) error {
	if s.cfg.Shared.HasValue() {
		return s.openShared(ctx)
	}
	if s.cfg.Storage == nil {
		s.logger.Warn("Release store has no storage configured: release state is kept in memory only and is lost on restart. Set `storage:` to a storage extension such as file_storage to persist it.")
		return nil
	}
	ext, ok := host.GetExtensions()[*s.cfg.Storage]
	if !ok {
		return fmt.Errorf("releasestore: storage: extension %q is not configured in the service's extensions", s.cfg.Storage)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("releasestore: storage: extension %q is not a storage extension", s.cfg.Storage)
	}
	client, err := se.GetClient(ctx, component.KindExtension, s.set.ID, "")
	if err != nil {
		return fmt.Errorf("releasestore: getting a storage client from %q: %w", s.cfg.Storage, err)
	}
	j, snapshot, records, err := journal.Open(ctx, client)
	if err != nil {
		_ = client.Close(ctx)
		return fmt.Errorf("releasestore: loading persisted state from %q: %w", s.cfg.Storage, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if snapshot != nil {
		if err := s.state.Load(snapshot); err != nil {
			_ = client.Close(ctx)
			return fmt.Errorf("releasestore: %w", err)
		}
	}
	for _, r := range records {
		s.replay(r)
	}
	s.journal = j
	s.state.TakeEvictedServices() // republishAll rebuilds every view
	s.republishAll()
	s.metrics.refresh(s.state)
	c := s.state.Counts()
	s.logger.Info("Release store loaded persisted state",
		zap.String("storage", s.cfg.Storage.String()), zap.Int("releases", c.Releases),
		zap.Int("keys", c.Keys), zap.Int("decisions", c.Decisions), zap.Int("log_records_replayed", len(records)))
	return nil
}

// replay applies a persisted record exactly as it was applied live.
func (s *releaseStore) replay(r journal.Record) {
	switch {
	case r.Event != nil:
		if !s.state.Duplicate(r.Event) {
			s.state.ApplyEvent(r.Event)
		}
	case r.Annotation != nil:
		_, _ = s.state.ApplyAnnotation(*r.Annotation)
	case r.Decision != nil:
		if !s.state.HasDecision(r.Decision.DecisionID) {
			s.state.ApplyDecision(r.Decision)
		}
	case r.Outcome != nil:
		s.state.ApplyOutcome(r.Outcome)
	case r.Review != nil:
		s.state.ApplyReview(r.Review)
	}
}

// Shutdown stops the API, writes a final snapshot and closes storage.
func (s *releaseStore) Shutdown(ctx context.Context) error {
	errs := []error{s.stopAPI(ctx)}
	if s.shared != nil {
		s.closeShared()
	}
	s.mu.Lock()
	s.waitCompaction()
	if s.journal != nil {
		if s.journal.Len() > 0 {
			errs = append(errs, s.compact(ctx))
		}
		errs = append(errs, s.journal.Close(ctx))
		s.journal = nil
	}
	s.mu.Unlock()
	s.metrics.shutdown()
	return errors.Join(errs...)
}

// persist appends records to the journal; with no storage it is a no-op.
// Called with mu held.
func (s *releaseStore) persist(ctx context.Context, records ...journal.Record) error {
	if s.journal == nil {
		return nil
	}
	if err := s.journal.Append(ctx, records...); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// persistEncoded is persist for records encoded with journal.Encode.
func (s *releaseStore) persistEncoded(ctx context.Context, records ...[]byte) error {
	if s.journal == nil {
		return nil
	}
	if err := s.journal.AppendEncoded(ctx, records...); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// maybeCompact snapshots when the log has grown. Called with mu held, after
// the records are applied. It copies the state (pointers, not contents) and
// encodes and writes the snapshot in the background, so that writers do not
// wait for it; one compaction runs at a time. A failed compaction loses
// nothing: the log stays.
func (s *releaseStore) maybeCompact(context.Context) {
	if s.journal == nil || s.compacting != nil {
		return
	}
	if n := s.journal.Len(); n < compactEvery || n < 2*s.state.Size() {
		return
	}
	image := s.state.Image()
	first, last := s.journal.Pending()
	client := s.journal.Client()
	done := make(chan struct{})
	s.compacting = done
	go func() {
		defer close(done)
		err := journal.WriteSnapshotFrom(context.Background(), client, image.SizeHint(), image.AppendJSON, first, last)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.compacting = nil
		if err != nil {
			s.logger.Warn("Release store could not write a snapshot; the log is kept and compaction will be retried", zap.Error(err))
			return
		}
		s.journal.Compacted(last)
	}()
}

// waitCompaction waits for a background compaction to end. Called with mu
// held; it is released while waiting.
func (s *releaseStore) waitCompaction() {
	for s.compacting != nil {
		done := s.compacting
		s.mu.Unlock()
		<-done
		s.mu.Lock()
	}
}

func (s *releaseStore) compact(ctx context.Context) error {
	data, err := s.state.MarshalJSON()
	if err != nil {
		return err
	}
	return s.journal.Compact(ctx, data)
}

// recordRequest is one Record call waiting for the group commit that
// includes it.
type recordRequest struct {
	ctx    context.Context
	events []release.Event
	// encoded are the events' log records, encoded by the caller before it
	// queues (nil without storage).
	encoded [][]byte
	// Set by the committer before done is closed.
	outcomes []Outcome
	changes  []ReleaseChange
	err      error
	done     chan struct{}
}

// Record implements Store. Concurrent calls are committed in groups: while
// one caller writes a batch to storage, the others queue, and the next
// caller to get the commit token writes everything queued in one storage
// batch. Each call returns after the commit that holds its events; when
// that commit fails, every call in it gets the error and nothing of the
// batch is applied. Throughput with storage is then bounded by commits per
// second times the callers waiting, not by commits per second alone.
func (s *releaseStore) Record(ctx context.Context, events []release.Event) ([]Outcome, error) {
	req := &recordRequest{ctx: ctx, events: events, done: make(chan struct{})}
	if s.cfg.Storage != nil {
		req.encoded = make([][]byte, len(events))
		for i := range events {
			data, err := journal.Encode(journal.Record{Event: &events[i]})
			if err != nil {
				return nil, err
			}
			req.encoded[i] = data
		}
	}
	s.pendingMu.Lock()
	s.pending = append(s.pending, req)
	s.pendingMu.Unlock()
	select {
	case <-req.done:
	case s.commitToken <- struct{}{}:
		select {
		case <-req.done: // the previous committer took it
		default:
			s.commitPending()
		}
		<-s.commitToken
	}
	for i := range events {
		switch err := req.err; {
		case errors.Is(err, ErrUnavailable):
			s.metrics.event(events[i].Source, outcomeFailed, 1)
		case err != nil:
			s.metrics.event(events[i].Source, outcomeRejected, 1)
		case req.outcomes[i].Duplicate:
			s.metrics.event(events[i].Source, outcomeDuplicate, 1)
		default:
			s.metrics.event(events[i].Source, outcomeAccepted, 1)
		}
	}
	if req.err != nil {
		return nil, req.err
	}
	if s.shared != nil {
		// The log follower told the subscribers when it applied them.
		return req.outcomes, nil
	}
	for _, sub := range s.subscribers() {
		if sub.OnRelease != nil {
			for _, ch := range req.changes {
				sub.OnRelease(ch)
			}
		}
	}
	return req.outcomes, nil
}

// commitPending commits every queued request and releases their callers.
// Called with the commit token held.
func (s *releaseStore) commitPending() {
	if s.lastBatch > 1 {
		// Callers are concurrent: let the ones the last commit released,
		// and others ready to run, queue first. Without this, batches held
		// two requests on average with 16 callers, as the next committer
		// ran before they did. A lone caller does not yield: on busy CPUs
		// that would delay each of its commits.
		runtime.Gosched()
	}
	s.pendingMu.Lock()
	batch := s.pending
	s.pending = nil
	s.pendingMu.Unlock()
	s.lastBatch = len(batch)
	s.commits++
	s.committed += len(batch)
	s.commit(batch)
	for _, req := range batch {
		close(req.done)
	}
}

// commit checks each request of a batch as if the ones before it were
// applied, persists the fresh events of those accepted in one journal
// append, and applies them.
func (s *releaseStore) commit(batch []*recordRequest) {
	if s.shared != nil {
		s.commitShared(batch)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := &s.scratch
	defer sc.reset()
	for _, req := range batch {
		n, err := s.admit(req, sc)
		if err != nil {
			req.err = err
			continue
		}
		if n == 0 {
			continue // duplicates only
		}
		for i, data := range req.encoded {
			if !req.outcomes[i].Duplicate {
				sc.fresh = append(sc.fresh, data)
			}
		}
		sc.accepted = append(sc.accepted, req)
	}
	accepted := sc.accepted
	if len(accepted) == 0 {
		return
	}
	// The batch is written for all its callers: one caller giving up does
	// not fail the others.
	if err := s.persistEncoded(context.WithoutCancel(accepted[0].ctx), sc.fresh...); err != nil {
		for _, req := range accepted {
			req.err = err
		}
		return
	}
	touched := sc.touched
	for _, req := range accepted {
		for i := range req.events {
			if req.outcomes[i].Duplicate {
				continue
			}
			ch := s.state.ApplyEvent(&req.events[i])
			req.outcomes[i].Release = ch.Release
			touched[ch.Service] = true
			if ch.Release != nil || len(ch.Touched) > 0 || len(ch.Evicted) > 0 {
				req.changes = append(req.changes, ReleaseChange{Event: req.events[i], Release: ch.Release, Touched: ch.Touched, Evicted: ch.Evicted})
			}
		}
	}
	// Keys evicted by the MaxKeys cap change (or remove) other views.
	for _, sk := range s.state.TakeEvictedServices() {
		touched[sk] = true
	}
	for sk := range touched {
		s.republish(sk)
	}
	s.metrics.refresh(s.state)
	s.maybeCompact(context.WithoutCancel(accepted[0].ctx))
}

// commitScratch is what commit works with, kept between commits.
type commitScratch struct {
	fresh    [][]byte
	accepted []*recordRequest
	// What the requests accepted so far in the batch bind: deployment
	// ids to keys, and delivery ids seen.
	boundIDs map[string]release.Key
	seen     map[string]bool
	// What the request being admitted binds, added to the above if it is
	// accepted.
	ownIDs  map[string]release.Key
	ownSeen map[string]bool
	// The services whose views the batch changed.
	touched map[release.ServiceKey]bool
}

// reset empties the working sets, keeping their space unless a large
// batch grew them (clearing a map costs its capacity, not its length);
// the slices are cleared so that they do not hold on to the batch's
// requests and records.
func (sc *commitScratch) reset() {
	sc.boundIDs, sc.ownIDs = emptied(sc.boundIDs), emptied(sc.ownIDs)
	sc.seen, sc.ownSeen = emptied(sc.seen), emptied(sc.ownSeen)
	sc.touched = emptied(sc.touched)
	if cap(sc.fresh) > maxScratch {
		sc.fresh, sc.accepted = nil, nil
	}
	clear(sc.fresh)
	clear(sc.accepted)
	sc.fresh, sc.accepted = sc.fresh[:0], sc.accepted[:0]
}

// maxScratch is the size past which commit's working sets are dropped
// rather than kept for the next commit.
const maxScratch = 256

func emptied[K comparable, V any](m map[K]V) map[K]V {
	if m == nil || len(m) > maxScratch {
		return map[K]V{}
	}
	clear(m)
	return m
}

// admit checks one request's events against the state and what the
// requests accepted before it in the batch bind, marks its duplicates, and
// returns how many events are fresh. A request is accepted or rejected
// whole; only an accepted one adds to sc.boundIDs and sc.seen. Called with
// mu held.
func (s *releaseStore) admit(req *recordRequest, sc *commitScratch) (int, error) {
	req.outcomes = make([]Outcome, len(req.events))
	sc.ownIDs, sc.ownSeen = emptied(sc.ownIDs), emptied(sc.ownSeen)
	boundIDs, seen, ownIDs, ownSeen := sc.boundIDs, sc.seen, sc.ownIDs, sc.ownSeen
	fresh := 0
	for i := range req.events {
		e := &req.events[i]
		if err := s.state.Check(e); err != nil {
			return 0, err
		}
		// Check sees only the stored state: a deployment id may not name
		// two keys within one batch either.
		id, k := e.DeploymentID(), e.Key()
		for _, bound := range []map[string]release.Key{ownIDs, boundIDs} {
			if other, ok := bound[id]; ok && other != k {
				return 0, release.Fieldf("attributes."+release.AttrDeploymentID, "conflict",
					"deployment %q belongs to %s, not %s", id, other, k)
			}
		}
		ownIDs[id] = k
		dk := e.DedupeKey()
		if s.state.Duplicate(e) || seen[dk] || ownSeen[dk] {
			req.outcomes[i].Duplicate = true
			continue
		}
		ownSeen[dk] = true
		fresh++
	}
	for id, k := range ownIDs {
		boundIDs[id] = k
	}
	for dk := range ownSeen {
		seen[dk] = true
	}
	return fresh, nil
}

// republish rebuilds one service's hot-path view. Called with mu held.
func (s *releaseStore) republish(sk release.ServiceKey) {
	s.index.set(sk, s.state.ServiceView(sk))
}

// republishAll rebuilds every view, after loading. Called with mu held.
func (s *releaseStore) republishAll() {
	views := map[release.ServiceKey]*ServiceView{}
	for _, sk := range s.state.Services() {
		views[sk] = s.state.ServiceView(sk)
	}
	s.index.reset(views)
}

// counts reads the state's sizes for the gauges, at collection time.
func (s *releaseStore) counts() state.Counts {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Counts()
}

// Service implements Store.
func (s *releaseStore) Service(k release.ServiceKey) *ServiceView {
	return s.index.lookup(k)
}

// Release implements Store.
func (s *releaseStore) Release(id string) (*release.Release, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Release(id)
}

// Live implements Store.
func (s *releaseStore) Live() []*release.Release {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Releases(func(r *release.Release) bool { return r.Status.Live() })
}

// Annotate implements Store.
func (s *releaseStore) Annotate(ctx context.Context, a release.Annotation) (*release.Release, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if s.shared != nil {
		if _, ok := s.Release(a.ReleaseID); !ok {
			return nil, fmt.Errorf("release %q: %w", a.ReleaseID, ErrNotFound)
		}
		res, err := s.writeShared(ctx, []journal.Record{{Annotation: &a}})
		if err != nil {
			return nil, err
		}
		return res[0].released, res[0].err
	}
	r, err := func() (*release.Release, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.state.Release(a.ReleaseID); !ok {
			return nil, fmt.Errorf("release %q: %w", a.ReleaseID, ErrNotFound)
		}
		if err := s.persist(ctx, journal.Record{Annotation: &a}); err != nil {
			return nil, err
		}
		r, err := s.state.ApplyAnnotation(a)
		if err != nil {
			return nil, err
		}
		s.republish(r.Key().Service)
		s.metrics.refresh(s.state)
		s.maybeCompact(ctx)
		return r, nil
	}()
	if err != nil {
		return nil, err
	}
	for _, sub := range s.subscribers() {
		if sub.OnAnnotation != nil {
			sub.OnAnnotation(a, r)
		}
	}
	return r, nil
}

// PublishDecision implements Store.
func (s *releaseStore) PublishDecision(ctx context.Context, d *release.Decision) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	if s.shared != nil {
		if _, _, known := s.Decision(d.DecisionID); known {
			return false, nil
		}
		res, err := s.writeShared(ctx, []journal.Record{{Decision: d}})
		if err != nil {
			return false, err
		}
		if res[0].added {
			s.metrics.decision(string(d.Action))
		}
		return res[0].added, res[0].err
	}
	added, err := func() (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state.HasDecision(d.DecisionID) {
			return false, nil
		}
		if err := s.persist(ctx, journal.Record{Decision: d}); err != nil {
			return false, err
		}
		s.state.ApplyDecision(d)
		s.metrics.refresh(s.state)
		s.maybeCompact(ctx)
		return true, nil
	}()
	if err != nil || !added {
		return added, err
	}
	s.metrics.decision(string(d.Action))
	for _, sub := range s.subscribers() {
		if sub.OnDecision != nil {
			sub.OnDecision(d)
		}
	}
	return true, nil
}

// RecordOutcome implements Store.
func (s *releaseStore) RecordOutcome(ctx context.Context, o release.ActionOutcome) error {
	if s.shared != nil {
		res, err := s.writeShared(ctx, []journal.Record{{Outcome: &o}})
		if err != nil {
			return err
		}
		return res[0].err
	}
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.persist(ctx, journal.Record{Outcome: &o}); err != nil {
			return err
		}
		s.state.ApplyOutcome(&o)
		s.maybeCompact(ctx)
		return nil
	}()
	if err != nil {
		return err
	}
	for _, sub := range s.subscribers() {
		if sub.OnOutcome != nil {
			sub.OnOutcome(o)
		}
	}
	return nil
}

// Decision implements Store.
func (s *releaseStore) Decision(id string) (*release.Decision, []*release.ActionOutcome, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.state.Decision(id)
	if !ok {
		return nil, nil, false
	}
	return d, s.state.Outcomes(id), true
}

// PendingDecision reports whether a decision waits for approval (some
// target's latest outcome is pending_approval and nobody answered yet), and
// the answer given, if any. The operator page uses it; it is not part of
// Store.
func (s *releaseStore) PendingDecision(id string) (bool, *release.Review) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, _ := s.state.Review(id)
	return s.state.Pending(id), r
}

// Review implements Store.
func (s *releaseStore) Review(ctx context.Context, r release.Review) (*release.Decision, error) {
	if s.shared != nil {
		if _, _, ok := s.Decision(r.DecisionID); !ok {
			return nil, fmt.Errorf("decision %q: %w", r.DecisionID, ErrNotFound)
		}
		if pending, _ := s.PendingDecision(r.DecisionID); !pending {
			return nil, fmt.Errorf("decision %q: %w", r.DecisionID, ErrNotPending)
		}
		res, err := s.writeShared(ctx, []journal.Record{{Review: &r}})
		if err != nil {
			return nil, err
		}
		return res[0].decision, res[0].err
	}
	d, err := func() (*release.Decision, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		d, ok := s.state.Decision(r.DecisionID)
		if !ok {
			return nil, fmt.Errorf("decision %q: %w", r.DecisionID, ErrNotFound)
		}
		if !s.state.Pending(r.DecisionID) {
			return nil, fmt.Errorf("decision %q: %w", r.DecisionID, ErrNotPending)
		}
		if err := s.persist(ctx, journal.Record{Review: &r}); err != nil {
			return nil, err
		}
		s.state.ApplyReview(&r)
		return d, nil
	}()
	if err != nil {
		return nil, err
	}
	for _, sub := range s.subscribers() {
		if sub.OnReview != nil {
			sub.OnReview(d, r)
		}
	}
	return d, nil
}

// Subscribe implements Store.
func (s *releaseStore) Subscribe(sub Subscriber) func() {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	id := s.nextID
	s.nextID++
	s.subs = append(slices.Clip(s.subs), subscription{id: id, Subscriber: sub})
	return func() {
		s.subsMu.Lock()
		defer s.subsMu.Unlock()
		s.subs = slices.DeleteFunc(slices.Clone(s.subs), func(o subscription) bool { return o.id == id })
	}
}

// subscription is a subscriber and the id its unsubscribe finds it by.
type subscription struct {
	id int
	Subscriber
}

// subscribers returns the subscribers in subscription order; the caller
// must not change the slice.
func (s *releaseStore) subscribers() []subscription {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	return s.subs
}

// FindStore returns the release store extension with the given id, or the
// only one configured when id is nil. Components find the store by the
// roles they need with storeroles.Find; this is the whole of it.
func FindStore(host component.Host, id *component.ID) (Store, error) {
	return storeroles.Find[Store](host, id)
}
