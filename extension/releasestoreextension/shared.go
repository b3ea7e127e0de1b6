package releasestoreextension

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/journal"
	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/state"
	"github.com/otelcol-release/otelcol-release/internal/pgshared"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
)

// A shared store keeps the journal in PostgreSQL instead of a storage
// extension: one totally ordered log that every replica of a fleet applies
// in the same order to its own in-memory state, the state machine the
// single-node store already is. A writer appends a record and answers once
// its own replica has applied it, so a write is durable when acknowledged
// and every replica sees it as soon as it is notified (LISTEN/NOTIFY, with
// polling as a fallback). Checks that depend on the state (conflicting
// deployment ids, pending reviews, known decisions) are made again by every
// replica when it applies a record, so replicas agree even when two of them
// wrote at once.

const (
	// sharedWriteTimeout bounds a write when the caller set no deadline.
	sharedWriteTimeout = 10 * time.Second
	// readBatch is how many log records are read at a time.
	readBatch = 500
	// heartbeatEvery is how often a replica says it is alive.
	heartbeatEvery = 2 * time.Second
	// reconnectEvery is how often a replica retries to reach the database
	// while it cannot.
	reconnectEvery = 2 * time.Second
	// maxResults bounds the results kept for writers that gave up waiting.
	maxResults = 10000
)

// errNotConnected is returned while the shared database was never reached.
var errNotConnected = errors.New("the shared release store (PostgreSQL) is not reachable yet")

// sharedLog is a store's side of a fleet.
type sharedLog struct {
	cfg     SharedConfig
	replica string
	// origin names this process's records in the log.
	origin string
	db     atomic.Pointer[pgshared.DB]

	// Guarded by the store's mu.
	applied int64
	results map[int64]*applyResult
	snapSeq int64

	appliedMu sync.Mutex
	// appliedCh is closed, and replaced, whenever applied advances.
	appliedCh chan struct{}
	wake      chan struct{}
	// tailMu serialises catching up: one reader of the log at a time.
	tailMu sync.Mutex

	cancel context.CancelFunc
	wg     sync.WaitGroup

	healthMu  sync.Mutex
	lastErr   error
	lastErrAt time.Time
	// connected is when the database was first reached.
	connected    time.Time
	snapshotting atomic.Bool
}

// applyResult is what applying one record did, for the writer waiting on
// it.
type applyResult struct {
	outcomes []Outcome
	changes  []ReleaseChange
	err      error
	// added: a decision was new.
	added    bool
	released *release.Release
	decision *release.Decision
}

// notification is one subscriber callback due after a record is applied.
type notification struct {
	change     *ReleaseChange
	annotation *release.Annotation
	annotated  *release.Release
	decision   *release.Decision
	outcome    *release.ActionOutcome
	review     *release.Review
	reviewed   *release.Decision
}

func defaultReplicaName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "collector"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openShared starts the store on the shared database. The database being
// unreachable does not stop the collector: telemetry keeps flowing, the
// store keeps retrying, and until it connects writes answer unavailable.
func (s *releaseStore) openShared(ctx context.Context) error {
	sc := *s.cfg.Shared.Get()
	replica := sc.Replica
	if replica == "" {
		replica = defaultReplicaName()
	}
	sh := &sharedLog{cfg: sc, replica: replica, origin: replica + "/" + randomSuffix(),
		results: map[int64]*applyResult{}, appliedCh: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.shared = sh
	if err := s.metrics.observeRoundTrips(sh); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	sh.cancel = cancel
	// A first attempt within Start, so that a reachable database is loaded
	// before telemetry arrives.
	if err := s.connectShared(ctx); err != nil {
		s.logger.Error("Release store cannot reach its shared PostgreSQL yet; it keeps trying. Meanwhile deploy events are answered 503, telemetry is stamped from no state, and detection holds.",
			zap.String("replica", replica), zap.Error(err))
		sh.setErr(err)
	}
	sh.wg.Add(1)
	go func() {
		defer sh.wg.Done()
		s.runShared(runCtx)
	}()
	return nil
}

// connectShared opens the database, loads the snapshot and applies the log.
func (s *releaseStore) connectShared(ctx context.Context) error {
	sh := s.shared
	sc := sh.cfg
	db, err := pgshared.Open(ctx, pgshared.Options{DSN: string(sc.PostgreSQL.DSN), Schema: sc.PostgreSQL.Schema, Logger: s.logger})
	if err != nil {
		return err
	}
	if err := s.reloadShared(ctx, db); err != nil {
		db.Close()
		return err
	}
	sh.db.Store(db)
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	sh.healthMu.Lock()
	sh.connected = time.Now()
	sh.healthMu.Unlock()
	sh.setErr(nil)
	s.mu.RLock()
	c := s.state.Counts()
	applied := sh.applied
	s.mu.RUnlock()
	s.logger.Info("Release store joined its fleet's shared state",
		zap.String("replica", sh.replica), zap.String("schema", sc.PostgreSQL.Schema), zap.Int64("log_position", applied),
		zap.Int("releases", c.Releases), zap.Int("decisions", c.Decisions))
	return nil
}

// reloadShared replaces the state with the snapshot; the log after it is
// applied by catchUp. Used at start and when the log this replica needs
// next was pruned (it lagged further behind than keep_log).
func (s *releaseStore) reloadShared(ctx context.Context, db *pgshared.DB) error {
	seq, data, err := db.LoadSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("loading the shared snapshot: %w", err)
	}
	st := state.New(s.limits())
	if data != nil {
		if err := st.Load(data); err != nil {
			return fmt.Errorf("decoding the shared snapshot: %w", err)
		}
	}
	s.mu.Lock()
	s.state = st
	s.shared.applied = seq
	s.shared.snapSeq = seq
	s.state.TakeEvictedServices()
	s.republishAll()
	s.metrics.refresh(s.state)
	live := s.state.Releases(func(r *release.Release) bool { return r.Status.Live() })
	s.mu.Unlock()
	// Subscribers learn of what is live now, as after a restart.
	var notes []notification
	for _, r := range live {
		notes = append(notes, notification{change: &ReleaseChange{Release: r}})
	}
	s.notify(notes)
	return nil
}

// runShared connects if Start could not, then follows the log: on every
// notification, and every poll interval, it applies what is new.
func (s *releaseStore) runShared(ctx context.Context) {
	sh := s.shared
	for sh.db.Load() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(reconnectEvery):
		}
		if err := s.connectShared(ctx); err != nil {
			sh.setErr(err)
		}
	}
	db := sh.db.Load()
	sh.wg.Add(2)
	go func() {
		defer sh.wg.Done()
		_ = db.Listen(ctx, s.kick)
	}()
	go func() {
		defer sh.wg.Done()
		s.heartbeat(ctx, db)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sh.wake:
		}
		if err := s.catchUp(ctx); ctx.Err() == nil {
			sh.setErr(err)
		}
	}
}

// kick asks the log follower to look for new records.
func (s *releaseStore) kick() {
	select {
	case s.shared.wake <- struct{}{}:
	default:
	}
}

func (s *releaseStore) heartbeat(ctx context.Context, db *pgshared.DB) {
	info, _ := json.Marshal(map[string]any{"api": s.cfg.NetAddr.Endpoint, "started": time.Now().UTC()})
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
		err := db.Heartbeat(hctx, s.shared.replica, info)
		cancel()
		if ctx.Err() == nil {
			s.shared.setErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setErr records the outcome of a round trip: an error is kept, and a
// success clears it once no error came for two heartbeats, so that the
// fleet API says "connected" again after an outage.
func (sh *sharedLog) setErr(err error) {
	sh.healthMu.Lock()
	defer sh.healthMu.Unlock()
	if err != nil {
		sh.lastErr, sh.lastErrAt = err, time.Now()
	} else if sh.lastErr != nil && time.Since(sh.lastErrAt) > 2*heartbeatEvery {
		sh.lastErr = nil
	}
}

// catchUp applies every record after the last applied one.
func (s *releaseStore) catchUp(ctx context.Context) error {
	sh := s.shared
	db := sh.db.Load()
	if db == nil {
		return errNotConnected
	}
	sh.tailMu.Lock()
	defer sh.tailMu.Unlock()
	for {
		s.mu.RLock()
		after := sh.applied
		s.mu.RUnlock()
		entries, err := db.ReadAfter(ctx, after, readBatch)
		if errors.Is(err, pgshared.ErrBehind) {
			s.logger.Warn("Release store fell behind the shared log's retention (keep_log); reloading the shared snapshot", zap.Int64("log_position", after))
			if err := s.reloadShared(ctx, db); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the shared log after %d: %w", after, err)
		}
		if len(entries) == 0 {
			return nil
		}
		s.applyEntries(entries)
		if len(entries) < readBatch {
			return nil
		}
	}
}

// applyEntries applies log records in order, tells subscribers, then wakes
// the writers waiting for them.
func (s *releaseStore) applyEntries(entries []pgshared.Entry) {
	sh := s.shared
	var notes []notification
	s.mu.Lock()
	touched := map[release.ServiceKey]bool{}
	for _, e := range entries {
		if e.Seq <= sh.applied {
			continue
		}
		var rec journal.Record
		var res *applyResult
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			// Every replica skips it alike.
			s.logger.Error("Skipping an undecodable record of the shared log", zap.Int64("seq", e.Seq), zap.Error(err))
			res = &applyResult{err: fmt.Errorf("record %d: %w", e.Seq, err)}
		} else {
			var n []notification
			res, n = s.applyShared(&rec, touched)
			notes = append(notes, n...)
		}
		sh.applied = e.Seq
		if rec.Origin == sh.origin {
			sh.results[e.Seq] = res
		}
	}
	if len(sh.results) > maxResults {
		for seq := range sh.results {
			if seq < sh.applied-maxResults {
				delete(sh.results, seq)
			}
		}
	}
	for _, sk := range s.state.TakeEvictedServices() {
		touched[sk] = true
	}
	for sk := range touched {
		s.republish(sk)
	}
	s.metrics.refresh(s.state)
	s.maybeSnapshotShared()
	s.mu.Unlock()

	s.notify(notes)
	sh.appliedMu.Lock()
	close(sh.appliedCh)
	sh.appliedCh = make(chan struct{})
	sh.appliedMu.Unlock()
}

// applyShared applies one record to the state, with the checks a writer
// could not make against the state other replicas were changing. Called
// with mu held.
func (s *releaseStore) applyShared(rec *journal.Record, touched map[release.ServiceKey]bool) (*applyResult, []notification) {
	res := &applyResult{}
	var notes []notification
	switch {
	case len(rec.Events) > 0:
		res.err = s.checkEvents(rec.Events)
		if res.err != nil {
			return res, nil
		}
		res.outcomes = make([]Outcome, len(rec.Events))
		seen := map[string]bool{}
		for i := range rec.Events {
			e := &rec.Events[i]
			dk := e.DedupeKey()
			if seen[dk] || s.state.Duplicate(e) {
				res.outcomes[i].Duplicate = true
				continue
			}
			seen[dk] = true
			ch := s.state.ApplyEvent(e)
			res.outcomes[i].Release = ch.Release
			touched[ch.Service] = true
			if ch.Release != nil || len(ch.Touched) > 0 || len(ch.Evicted) > 0 {
				change := ReleaseChange{Event: *e, Release: ch.Release, Touched: ch.Touched, Evicted: ch.Evicted}
				res.changes = append(res.changes, change)
				notes = append(notes, notification{change: &change})
			}
		}
	case rec.Event != nil:
		if !s.state.Duplicate(rec.Event) {
			ch := s.state.ApplyEvent(rec.Event)
			touched[ch.Service] = true
		}
	case rec.Annotation != nil:
		if _, ok := s.state.Release(rec.Annotation.ReleaseID); !ok {
			res.err = fmt.Errorf("release %q: %w", rec.Annotation.ReleaseID, ErrNotFound)
			return res, nil
		}
		r, err := s.state.ApplyAnnotation(*rec.Annotation)
		if err != nil {
			res.err = err
			return res, nil
		}
		res.released = r
		touched[r.Key().Service] = true
		notes = append(notes, notification{annotation: rec.Annotation, annotated: r})
	case rec.Decision != nil:
		if s.state.HasDecision(rec.Decision.DecisionID) {
			return res, nil
		}
		s.state.ApplyDecision(rec.Decision)
		res.added = true
		notes = append(notes, notification{decision: rec.Decision})
	case rec.Outcome != nil:
		s.state.ApplyOutcome(rec.Outcome)
		notes = append(notes, notification{outcome: rec.Outcome})
	case rec.Review != nil:
		d, ok := s.state.Decision(rec.Review.DecisionID)
		if !ok {
			res.err = fmt.Errorf("decision %q: %w", rec.Review.DecisionID, ErrNotFound)
			return res, nil
		}
		if !s.state.Pending(rec.Review.DecisionID) {
			res.err = fmt.Errorf("decision %q: %w", rec.Review.DecisionID, ErrNotPending)
			return res, nil
		}
		s.state.ApplyReview(rec.Review)
		res.decision = d
		notes = append(notes, notification{review: rec.Review, reviewed: d})
	}
	return res, notes
}

// checkEvents checks one request's events against the state, and against
// each other: a deployment id names one key. Called with mu held.
func (s *releaseStore) checkEvents(events []release.Event) error {
	ids := map[string]release.Key{}
	for i := range events {
		e := &events[i]
		if err := s.state.Check(e); err != nil {
			return err
		}
		id, k := e.DeploymentID(), e.Key()
		if other, ok := ids[id]; ok && other != k {
			return release.Fieldf("attributes."+release.AttrDeploymentID, "conflict",
				"deployment %q belongs to %s, not %s", id, other, k)
		}
		ids[id] = k
	}
	return nil
}

// notify runs the subscribers' callbacks, in order, outside the locks.
func (s *releaseStore) notify(notes []notification) {
	if len(notes) == 0 {
		return
	}
	subs := s.subscribers()
	for _, n := range notes {
		for _, sub := range subs {
			switch {
			case n.change != nil && sub.OnRelease != nil:
				sub.OnRelease(*n.change)
			case n.annotation != nil && sub.OnAnnotation != nil:
				sub.OnAnnotation(*n.annotation, n.annotated)
			case n.decision != nil && sub.OnDecision != nil:
				sub.OnDecision(n.decision)
			case n.outcome != nil && sub.OnOutcome != nil:
				sub.OnOutcome(*n.outcome)
			case n.review != nil && sub.OnReview != nil:
				sub.OnReview(n.reviewed, *n.review)
			}
		}
	}
}

// writeShared appends records and waits until this replica has applied
// them, returning their results in order.
func (s *releaseStore) writeShared(ctx context.Context, recs []journal.Record) ([]*applyResult, error) {
	sh := s.shared
	db := sh.db.Load()
	if db == nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, errNotConnected)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sharedWriteTimeout)
		defer cancel()
	}
	data := make([][]byte, len(recs))
	for i := range recs {
		recs[i].Origin = sh.origin
		var err error
		if data[i], err = journal.Encode(recs[i]); err != nil {
			return nil, err
		}
	}
	first, last, err := db.Append(ctx, data)
	if err != nil {
		sh.setErr(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Apply now rather than wait for the notification's round trip.
	s.kick()
	for {
		sh.appliedMu.Lock()
		ch := sh.appliedCh
		sh.appliedMu.Unlock()
		s.mu.RLock()
		done := sh.applied >= last
		s.mu.RUnlock()
		if done {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			// The records are in the log and every replica will apply
			// them; this one could not confirm in time.
			return nil, fmt.Errorf("%w: written to the shared log (records %d-%d) but not yet applied here: %w", ErrUnavailable, first, last, ctx.Err())
		}
	}
	s.mu.Lock()
	out := make([]*applyResult, 0, len(recs))
	for seq := first; seq <= last; seq++ {
		res := sh.results[seq]
		delete(sh.results, seq)
		if res == nil {
			res = &applyResult{err: fmt.Errorf("%w: the result of record %d was lost", ErrUnavailable, seq)}
		}
		out = append(out, res)
	}
	s.mu.Unlock()
	return out, nil
}

// commitShared is commit for a shared store: each request is one record,
// all appended in one transaction. Requests that contradict this replica's
// state are answered at once.
func (s *releaseStore) commitShared(batch []*recordRequest) {
	var (
		recs []journal.Record
		reqs []*recordRequest
	)
	s.mu.RLock()
	for _, req := range batch {
		if err := s.checkEvents(req.events); err != nil {
			req.err = err
			continue
		}
		recs = append(recs, journal.Record{Events: req.events})
		reqs = append(reqs, req)
	}
	s.mu.RUnlock()
	if len(reqs) == 0 {
		return
	}
	results, err := s.writeShared(context.WithoutCancel(reqs[0].ctx), recs)
	for i, req := range reqs {
		if err != nil {
			req.err = err
			continue
		}
		res := results[i]
		req.err, req.outcomes, req.changes = res.err, res.outcomes, res.changes
	}
}

// maybeSnapshotShared writes a snapshot of the shared state when the log
// has grown, from one replica at a time (a lease). Called with mu held.
func (s *releaseStore) maybeSnapshotShared() {
	sh := s.shared
	if n := sh.applied - sh.snapSeq; n < compactEvery || n < 2*int64(s.state.Size()) {
		return
	}
	if !sh.snapshotting.CompareAndSwap(false, true) {
		return
	}
	db := sh.db.Load()
	image, seq := s.state.Image(), sh.applied
	sh.snapSeq = seq
	sh.wg.Add(1)
	go func() {
		defer sh.wg.Done()
		defer sh.snapshotting.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		leases, err := db.Acquire(ctx, sh.replica, []string{"store:snapshot"}, time.Minute)
		if err != nil || leases["store:snapshot"].Holder != sh.replica {
			return
		}
		defer func() { _ = db.ReleaseLeases(context.Background(), sh.replica, []string{"store:snapshot"}) }()
		data, err := image.MarshalJSON()
		if err == nil {
			err = db.SaveSnapshot(ctx, seq, data, sh.cfg.KeepLog)
		}
		if err != nil {
			s.logger.Warn("Release store could not write the shared snapshot; the log is kept and it will be retried", zap.Error(err))
		}
	}()
}

func (s *releaseStore) closeShared() {
	sh := s.shared
	sh.cancel()
	sh.wg.Wait()
	if db := sh.db.Load(); db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = db.ReleaseLeases(ctx, sh.replica, nil)
		cancel()
		db.Close()
	}
}

// sharedFleet is the store's storeroles.Fleet.
type sharedFleet struct {
	store *releaseStore
}

// Fleet implements storeroles.FleetMember: nil when the store is not
// shared.
func (s *releaseStore) Fleet() storeroles.Fleet {
	if s.shared == nil {
		return nil
	}
	return &sharedFleet{store: s}
}

func (f *sharedFleet) Replica() string { return f.store.shared.replica }

func (f *sharedFleet) LeaseDuration() time.Duration { return f.store.shared.cfg.LeaseDuration }

func (f *sharedFleet) DB() (*pgshared.DB, error) {
	db := f.store.shared.db.Load()
	if db == nil {
		return nil, errNotConnected
	}
	return db, nil
}

// fleetStatus is the fleet API's answer.
type fleetStatus struct {
	Replica   string `json:"replica"`
	Backend   string `json:"backend"`
	Connected bool   `json:"connected"`
	Applied   int64  `json:"log_position"`
	// RoundTrips counts the requests this replica sent to the database
	// since it connected (store, detector and rollback ledger together).
	RoundTrips int64             `json:"round_trips"`
	Error      string            `json:"error,omitempty"`
	Replicas   []json.RawMessage `json:"replicas,omitempty"`
}

func (s *releaseStore) fleetStatus(ctx context.Context) fleetStatus {
	sh := s.shared
	st := fleetStatus{Replica: sh.replica, Backend: "postgresql"}
	s.mu.RLock()
	st.Applied = sh.applied
	s.mu.RUnlock()
	sh.healthMu.Lock()
	if sh.lastErr != nil {
		st.Error = sh.lastErr.Error()
	}
	sh.healthMu.Unlock()
	db := sh.db.Load()
	st.Connected = db != nil && st.Error == ""
	if db != nil {
		st.RoundTrips = db.RoundTrips()
		if reps, err := db.Replicas(ctx, 3*heartbeatEvery); err == nil {
			for name, info := range reps {
				entry, _ := json.Marshal(map[string]json.RawMessage{"name": mustJSON(name), "info": info})
				st.Replicas = append(st.Replicas, entry)
			}
		} else {
			st.Error = err.Error()
			st.Connected = false
		}
	}
	return st
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
