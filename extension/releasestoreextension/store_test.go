package releasestoreextension

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/journal"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestRecordOutcomes(t *testing.T) {
	s := env{}.start(t)
	out := record(t, s, event("d1", release.EventStarted, "v1", 0), event("d1", release.EventSucceeded, "v1", time.Minute))
	assert.False(t, out[0].Duplicate)
	assert.False(t, out[1].Duplicate)
	require.NotNil(t, out[0].Release)
	assert.Equal(t, release.StatusInProgress, out[0].Release.Status)
	require.NotNil(t, out[1].Release)
	assert.Equal(t, release.StatusSucceeded, out[1].Release.Status)

	// A redelivery, alone or next to a new event, is a duplicate.
	out = record(t, s, event("d1", release.EventSucceeded, "v1", time.Minute, func(e *release.Event) { e.ReceivedAt = t0.Add(time.Hour) }),
		event("d2", release.EventStarted, "v2", time.Hour))
	assert.True(t, out[0].Duplicate)
	assert.Nil(t, out[0].Release)
	assert.False(t, out[1].Duplicate)
	assert.Equal(t, "d2", out[1].Release.ID)
	assert.Equal(t, "v1", out[1].Release.Release.PreviousVersion)

	// The same delivery twice in one batch: the second is a duplicate.
	out = record(t, s, event("d3", release.EventStarted, "v3", 2*time.Hour), event("d3", release.EventStarted, "v3", 2*time.Hour))
	assert.False(t, out[0].Duplicate)
	assert.True(t, out[1].Duplicate)
	r, ok := s.Release("d3")
	require.True(t, ok)
	assert.Len(t, r.Events, 1)

	// A removal of a service with nothing live is accepted and changes nothing.
	out = record(t, s, event("rm", release.EventRemoved, "v1", 3*time.Hour, withService("ghost")))
	assert.False(t, out[0].Duplicate)
	assert.Nil(t, out[0].Release)
}

func TestRecordIsAllOrNothingOnConflict(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := env{tel: tel}.start(t)
	record(t, s, event("d1", release.EventStarted, "v1", 0))

	calls := 0
	unsub := s.Subscribe(Subscriber{OnRelease: func(ReleaseChange) { calls++ }})
	defer unsub()
	out, err := s.Record(context.Background(), []release.Event{
		event("d2", release.EventStarted, "v2", time.Hour),
		event("d1", release.EventStarted, "v1", time.Hour, withService("cart")), // d1 is checkout's
		event("c1", release.EventStarted, "v1", time.Hour, withService("cart")),
	})
	require.Error(t, err)
	assert.Nil(t, out)
	fe, ok := release.AsFieldError(err)
	require.True(t, ok, "a conflict is a FieldError: %v", err)
	assert.Equal(t, "attributes.deployment.id", fe.Field)
	assert.Equal(t, "conflict", fe.Rule)
	_, ok = s.Release("d2")
	assert.False(t, ok, "the valid event before the conflict was not stored")
	_, ok = s.Release("c1")
	assert.False(t, ok, "nor the one after it")
	assert.Nil(t, s.Service(serviceKey("cart")))
	assert.Zero(t, calls)
	assert.Equal(t, int64(3), metricValue(t, tel, "otelcol.releasestore.events",
		attribute.String("source", "native"), attribute.String("outcome", "rejected")))

	// Nothing was remembered either: the valid events can be sent again.
	out = record(t, s, event("d2", release.EventStarted, "v2", time.Hour))
	assert.False(t, out[0].Duplicate)
}

func TestRecordRejectsConflictWithinOneBatch(t *testing.T) {
	s := env{}.start(t)
	_, err := s.Record(context.Background(), []release.Event{
		event("d1", release.EventStarted, "v1", 0),
		event("d1", release.EventSucceeded, "v1", time.Minute, withService("cart")),
	})
	fe, ok := release.AsFieldError(err)
	require.True(t, ok, "want a conflict, got %v", err)
	assert.Equal(t, "attributes.deployment.id", fe.Field)
	assert.Equal(t, "conflict", fe.Rule)
	_, ok = s.Release("d1")
	assert.False(t, ok)
	assert.Nil(t, s.Service(checkoutKey))
	assert.Nil(t, s.Service(serviceKey("cart")))
}

// fill records a canary with an annotation and a decision, and returns
// what a restarted store must give back.
func fill(t *testing.T, s *releaseStore) {
	t.Helper()
	record(t, s, event("d1", release.EventStarted, "v1", 0), event("d1", release.EventSucceeded, "v1", time.Minute))
	record(t, s, event("d2", release.EventStarted, "v2", time.Hour, withPercent(10), withScope("k8s.cluster.name", "eu-1")))
	record(t, s, event("d3", release.EventStarted, "v2", time.Hour, withPercent(10)))
	record(t, s, event("d3", release.EventProgressed, "v2", 70*time.Minute, withPercent(50)))
	record(t, s, event("c1", release.EventSucceeded, "v9", 80*time.Minute, withService("cart"), withSource("github")))
	_, err := s.Annotate(context.Background(), annotation("d3", "false_alarm", "load test"))
	require.NoError(t, err)
	added, err := s.PublishDecision(context.Background(), testDecision("dec-1", "d3"))
	require.NoError(t, err)
	require.True(t, added)
}

type snapshotOf struct {
	releases  []*release.Release
	decisions []*release.Decision
	checkout  *ServiceView
	cart      *ServiceView
}

func snapshot(s *releaseStore) snapshotOf {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return snapshotOf{
		releases: s.state.Releases(nil), decisions: s.state.Decisions(nil),
		checkout: s.Service(checkoutKey), cart: s.Service(serviceKey("cart")),
	}
}

// assertRestored checks that a restarted store holds what was recorded.
func assertRestored(t *testing.T, want snapshotOf, s *releaseStore) {
	t.Helper()
	got := snapshot(s)
	assert.Equal(t, want.releases, got.releases)
	assert.Len(t, got.releases, 4)
	assert.Equal(t, want.decisions, got.decisions)
	require.Len(t, got.decisions, 1)
	assert.Equal(t, "dec-1", got.decisions[0].DecisionID)
	assert.Equal(t, want.checkout, got.checkout)
	assert.Equal(t, want.cart, got.cart)

	require.NotNil(t, got.checkout)
	require.Len(t, got.checkout.Keys, 2)
	assert.Equal(t, []ScopeAttr{{Name: "k8s.cluster.name", Value: "eu-1"}}, got.checkout.Keys[0].Scope)
	kv := got.checkout.Keys[1]
	require.NotNil(t, kv.Active)
	assert.Equal(t, "d3", kv.Active.ID)
	assert.Equal(t, 50.0, *kv.Active.Release.RolloutPercentage)
	require.Len(t, kv.Active.Annotations, 1)
	assert.Equal(t, "false_alarm", kv.Active.Annotations[0].Label)
	require.NotNil(t, kv.Control)
	assert.Equal(t, "d1", kv.Control.ID)

	// The de-duplication window survived too.
	out := record(t, s, event("d3", release.EventProgressed, "v2", 70*time.Minute, withPercent(50)))
	assert.True(t, out[0].Duplicate)
	added, err := s.PublishDecision(context.Background(), testDecision("dec-1", "d3"))
	require.NoError(t, err)
	assert.False(t, added)
}

func TestPersistenceAcrossCleanRestart(t *testing.T) {
	dir := t.TempDir()
	s := withStorage(newFileStorage(t, dir)).start(t)
	fill(t, s)
	want := snapshot(s)
	require.NoError(t, s.Shutdown(context.Background()))

	st := newFileStorage(t, dir)
	s2 := withStorage(st).start(t)
	// A clean shutdown left a snapshot and an empty log.
	raw, err := st.lastClient(t).Get(context.Background(), "snapshot")
	require.NoError(t, err)
	assert.NotNil(t, raw)
	assert.Equal(t, 0, s2.journal.Len())
	assertRestored(t, want, s2)
}

func TestPersistenceAfterCrash(t *testing.T) {
	dir := t.TempDir()
	st := newFileStorage(t, dir)
	s := withStorage(st).start(t)
	fill(t, s)
	want := snapshot(s)
	require.Positive(t, s.journal.Len())

	// kill -9 after the acknowledgements: the storage goes away under the
	// store, which never gets to write a final snapshot.
	require.NoError(t, st.lastClient(t).Close(context.Background()))
	err := s.Shutdown(context.Background())
	require.Error(t, err, "the final snapshot cannot be written to closed storage")

	st2 := newFileStorage(t, dir)
	raw, err := func() ([]byte, error) {
		c, err := st2.GetClient(context.Background(), component.KindExtension, component.NewID(Type), "")
		require.NoError(t, err)
		defer c.Close(context.Background())
		return c.Get(context.Background(), "snapshot")
	}()
	require.NoError(t, err)
	assert.Nil(t, raw, "no snapshot was written: the state must come from the log")

	s2 := withStorage(st2).start(t)
	assert.Equal(t, 8, s2.journal.Len(), "6 events, 1 annotation and 1 decision are replayed from the log")
	assertRestored(t, want, s2)
}

func TestCompactionAndRestart(t *testing.T) {
	dir := t.TempDir()
	st := newFileStorage(t, dir)
	e := withStorage(st)
	const history = 5
	e.cfg = func(c *Config) { c.Storage = &storageID; c.MaxHistory = history }
	s := e.start(t)

	// 16,000 distinct releases of 1,000 services, in batches of 50; the
	// store holds 5 of each service's.
	const services, total, batch = 1000, 16000, 50
	for i := 0; i < total; i += batch {
		events := make([]release.Event, 0, batch)
		for j := i; j < i+batch; j++ {
			events = append(events, event(fmt.Sprintf("dep-%d", j), release.EventSucceeded, fmt.Sprintf("v%d", j/services),
				time.Duration(j)*time.Second, withService(fmt.Sprintf("svc-%d", j%services))))
		}
		record(t, s, events...)
		// Snapshots are written in the background: wait for this one.
		s.mu.Lock()
		s.waitCompaction()
		assert.Less(t, s.journal.Len(), max(compactEvery, 2*s.state.Size())+batch, "the log is compacted as it outgrows the state")
		s.mu.Unlock()
	}
	raw, err := st.lastClient(t).Get(context.Background(), "snapshot")
	require.NoError(t, err)
	require.NotNil(t, raw, "a snapshot was written")
	assert.Less(t, s.journal.Len(), total)
	// The first log entry was compacted away.
	first, err := st.lastClient(t).Get(context.Background(), "wal/00000000000000000001")
	require.NoError(t, err)
	assert.Nil(t, first)
	assert.Equal(t, history*services, s.state.Counts().Releases)
	assert.Equal(t, services, s.state.Counts().Live)

	want := snapshot(s)
	logLen := s.journal.Len()
	// Crash: the state comes from the snapshot plus the log after it.
	require.NoError(t, st.lastClient(t).Close(context.Background()))
	_ = s.Shutdown(context.Background())

	e.host = withStorage(newFileStorage(t, dir)).host
	s2 := e.start(t)
	assert.Equal(t, logLen, s2.journal.Len())
	got := snapshot(s2)
	assert.Equal(t, want.releases, got.releases)
	for i := 0; i < services; i++ {
		v := s2.Service(serviceKey(fmt.Sprintf("svc-%d", i)))
		require.NotNil(t, v)
		require.NotNil(t, v.Keys[0].Active)
		assert.Equal(t, fmt.Sprintf("dep-%d", total-services+i), v.Keys[0].Active.ID)
	}
	out := record(t, s2, event("dep-15999", release.EventSucceeded, "v15", 15999*time.Second, withService("svc-999")))
	assert.True(t, out[0].Duplicate)

	// A clean restart after compaction keeps everything as well.
	require.NoError(t, s2.Shutdown(context.Background()))
	e.host = withStorage(newFileStorage(t, dir)).host
	s3 := e.start(t)
	assert.Equal(t, 0, s3.journal.Len())
	assert.Equal(t, want.releases, snapshot(s3).releases)
}

func TestStorageFailureStoresNothing(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	client := &failingClient{data: map[string][]byte{}}
	e := withStorage(&fakeStorage{client: client})
	e.tel = tel
	s := e.start(t)
	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	before := s.Service(checkoutKey)

	notified := 0
	defer s.Subscribe(Subscriber{
		OnRelease:    func(ReleaseChange) { notified++ },
		OnAnnotation: func(release.Annotation, *release.Release) { notified++ },
		OnDecision:   func(*release.Decision) { notified++ },
	})()

	client.setFail(true)
	out, err := s.Record(context.Background(), []release.Event{
		event("d2", release.EventStarted, "v2", time.Hour),
		event("c1", release.EventStarted, "v1", time.Hour, withService("cart")),
	})
	assert.Nil(t, out)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, errDiskFull)
	_, ok := s.Release("d2")
	assert.False(t, ok)
	assert.Nil(t, s.Service(serviceKey("cart")))
	assert.Same(t, before, s.Service(checkoutKey), "the view was not touched")
	assert.Equal(t, int64(2), metricValue(t, tel, "otelcol.releasestore.events",
		attribute.String("source", "native"), attribute.String("outcome", "failed")))

	_, err = s.Annotate(context.Background(), annotation("d1", "note", "hello"))
	require.ErrorIs(t, err, ErrUnavailable)
	r, _ := s.Release("d1")
	assert.Empty(t, r.Annotations)

	added, err := s.PublishDecision(context.Background(), testDecision("dec-1", "d1"))
	require.ErrorIs(t, err, ErrUnavailable)
	assert.False(t, added)
	s.mu.RLock()
	assert.False(t, s.state.HasDecision("dec-1"))
	s.mu.RUnlock()
	assert.Zero(t, notified)

	// Storage is back: the same requests succeed, nothing was half-stored.
	client.setFail(false)
	out = record(t, s, event("d2", release.EventStarted, "v2", time.Hour))
	assert.False(t, out[0].Duplicate, "a failed event was not remembered as seen")
	added, err = s.PublishDecision(context.Background(), testDecision("dec-1", "d1"))
	require.NoError(t, err)
	assert.True(t, added)
	assert.Equal(t, 2, notified)
}

func TestServiceViews(t *testing.T) {
	s := env{}.start(t)
	assert.Nil(t, s.Service(checkoutKey), "nothing recorded yet")
	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	v1 := s.Service(checkoutKey)
	require.NotNil(t, v1)
	assert.Equal(t, checkoutKey, v1.Service)
	require.Len(t, v1.Keys, 1)
	assert.Equal(t, "d1", v1.Keys[0].Active.ID)
	assert.Same(t, v1, s.Service(checkoutKey), "lookups without change return the same view")

	for _, k := range []release.ServiceKey{
		{Name: "checkout", Environment: "production"},
		{Namespace: "shop", Name: "checkout", Environment: "staging"},
		{Namespace: "shop", Name: "cart", Environment: "production"},
		{},
	} {
		assert.Nil(t, s.Service(k), k.String())
	}

	record(t, s, event("d2", release.EventStarted, "v2", time.Hour, withPercent(5)))
	v2 := s.Service(checkoutKey)
	require.NotNil(t, v2)
	assert.NotSame(t, v1, v2, "a change publishes a new view")
	assert.Equal(t, "d1", v1.Keys[0].Active.ID, "the old view is unchanged")
	assert.Nil(t, v1.Keys[0].Control)
	assert.Equal(t, release.StatusSucceeded, v1.Keys[0].Active.Status)
	assert.Equal(t, "d2", v2.Keys[0].Active.ID)
	assert.Equal(t, "d1", v2.Keys[0].Control.ID)

	record(t, s, event("d2", release.EventSucceeded, "v2", 2*time.Hour))
	v3 := s.Service(checkoutKey)
	assert.Equal(t, release.StatusInProgress, v2.Keys[0].Active.Status, "releases in old views are never mutated")
	assert.Equal(t, release.StatusSucceeded, v2.Keys[0].Control.Status)
	assert.Equal(t, release.StatusSucceeded, v3.Keys[0].Active.Status)
	assert.Nil(t, v3.Keys[0].Control)

	// Another service does not replace this one's view.
	record(t, s, event("c1", release.EventStarted, "v1", 3*time.Hour, withService("cart")))
	assert.Same(t, v3, s.Service(checkoutKey))
	require.NotNil(t, s.Service(serviceKey("cart")))

	// An annotation is part of the view.
	_, err := s.Annotate(context.Background(), annotation("d2", "note", "looks good"))
	require.NoError(t, err)
	v4 := s.Service(checkoutKey)
	assert.NotSame(t, v3, v4)
	assert.Empty(t, v3.Keys[0].Active.Annotations)
	assert.Len(t, v4.Keys[0].Active.Annotations, 1)
}

func TestEvictedServicesLeaveTheIndex(t *testing.T) {
	s := env{cfg: func(c *Config) { c.MaxKeys = 3 }}.start(t)
	record(t, s,
		event("old", release.EventSucceeded, "v1", 0, withService("old")),
		event("eu", release.EventSucceeded, "v1", time.Hour, withScope("k8s.cluster.name", "eu-1")),
		event("all", release.EventSucceeded, "v1", 2*time.Hour),
	)
	require.NotNil(t, s.Service(serviceKey("old")))
	require.Len(t, s.Service(checkoutKey).Keys, 2)

	// A fourth key evicts the least recently updated one: the whole "old"
	// service, while the number of services stays at the number of keys'.
	record(t, s, event("new", release.EventSucceeded, "v1", 3*time.Hour, withService("new")))
	assert.Nil(t, s.Service(serviceKey("old")), "an evicted service is no longer served")
	_, ok := s.Release("old")
	assert.False(t, ok)
	require.NotNil(t, s.Service(serviceKey("new")))

	// A fifth evicts checkout's eu-1 key: checkout's view loses that key.
	record(t, s, event("new2", release.EventSucceeded, "v1", 4*time.Hour, withService("new2")))
	v := s.Service(checkoutKey)
	require.NotNil(t, v)
	require.Len(t, v.Keys, 1, "the evicted scoped key is gone from the view")
	assert.Nil(t, v.Keys[0].Scope)
	assert.Equal(t, "all", v.Keys[0].Active.ID)
}

func TestSubscribe(t *testing.T) {
	s := env{}.start(t)
	var (
		changes     []ReleaseChange
		annotations []release.Annotation
		annotated   []*release.Release
		decisions   []*release.Decision
	)
	unsub := s.Subscribe(Subscriber{
		OnRelease: func(c ReleaseChange) { changes = append(changes, c) },
		OnAnnotation: func(a release.Annotation, r *release.Release) {
			annotations = append(annotations, a)
			annotated = append(annotated, r)
		},
		OnDecision: func(d *release.Decision) { decisions = append(decisions, d) },
	})
	// A subscriber with only some callbacks is fine.
	onlyDecisions := 0
	unsub2 := s.Subscribe(Subscriber{OnDecision: func(*release.Decision) { onlyDecisions++ }})
	defer unsub2()

	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	record(t, s, event("d2", release.EventSucceeded, "v2", time.Hour))
	record(t, s, event("d2", release.EventSucceeded, "v2", time.Hour)) // duplicate: no change
	require.Len(t, changes, 2)
	assert.Equal(t, "d1", changes[0].Event.ID)
	assert.Equal(t, "d1", changes[0].Release.ID)
	assert.Empty(t, changes[0].Touched)
	assert.Equal(t, "d2", changes[1].Release.ID)
	require.Len(t, changes[1].Touched, 1)
	assert.Equal(t, "d1", changes[1].Touched[0].ID)
	assert.Equal(t, release.StatusSuperseded, changes[1].Touched[0].Status)

	a := annotation("d2", "root_cause", "a bad flag")
	_, err := s.Annotate(context.Background(), a)
	require.NoError(t, err)
	require.Len(t, annotations, 1)
	assert.Equal(t, a, annotations[0])
	assert.Equal(t, "d2", annotated[0].ID)
	assert.Len(t, annotated[0].Annotations, 1)

	d := testDecision("dec-1", "d2")
	added, err := s.PublishDecision(context.Background(), d)
	require.NoError(t, err)
	assert.True(t, added)
	added, err = s.PublishDecision(context.Background(), testDecision("dec-1", "d2"))
	require.NoError(t, err)
	assert.False(t, added, "a known decision id is not added again")
	require.Len(t, decisions, 1)
	assert.Same(t, d, decisions[0])
	assert.Equal(t, 1, onlyDecisions)
	assert.Len(t, changes, 2, "annotations and decisions are not release changes")

	unsub()
	unsub() // idempotent
	record(t, s, event("d3", release.EventStarted, "v3", 2*time.Hour))
	_, err = s.Annotate(context.Background(), annotation("d3", "note", "x"))
	require.NoError(t, err)
	_, err = s.PublishDecision(context.Background(), testDecision("dec-2", "d3"))
	require.NoError(t, err)
	assert.Len(t, changes, 2)
	assert.Len(t, annotations, 1)
	assert.Len(t, decisions, 1)
	assert.Equal(t, 2, onlyDecisions, "the other subscriber still receives")
}

func TestAnnotateAndPublishValidate(t *testing.T) {
	s := env{}.start(t)
	record(t, s, event("d1", release.EventSucceeded, "v1", 0))
	_, err := s.Annotate(context.Background(), annotation("d1", "bogus", "x"))
	fe, ok := release.AsFieldError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "label", fe.Field)
	_, err = s.Annotate(context.Background(), annotation("nope", "note", "x"))
	assert.ErrorIs(t, err, ErrNotFound)

	d := testDecision("dec-1", "d1")
	d.Action = "explode"
	_, err = s.PublishDecision(context.Background(), d)
	fe, ok = release.AsFieldError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "action", fe.Field)
}

func TestFindStore(t *testing.T) {
	s := env{}.start(t)
	other := env{}.start(t)
	id := component.NewID(Type)
	otherID := component.MustNewIDWithName("releasestore", "other")
	fs := newFileStorage(t, t.TempDir())

	got, err := FindStore(newHost(map[component.ID]component.Component{id: s, storageID: fs}), nil)
	require.NoError(t, err)
	assert.Same(t, s, got.(*releaseStore), "the only store")

	both := newHost(map[component.ID]component.Component{id: s, otherID: other, storageID: fs})
	got, err = FindStore(both, &otherID)
	require.NoError(t, err)
	assert.Same(t, other, got.(*releaseStore), "by id")

	_, err = FindStore(both, nil)
	assert.ErrorContains(t, err, "several releasestore extensions are configured")

	_, err = FindStore(newHost(map[component.ID]component.Component{storageID: fs}), nil)
	assert.ErrorContains(t, err, "no releasestore extension is configured")

	missing := component.MustNewIDWithName("releasestore", "missing")
	_, err = FindStore(both, &missing)
	assert.ErrorContains(t, err, `"releasestore/missing" is not configured`)

	_, err = FindStore(both, &storageID)
	assert.ErrorContains(t, err, `"file_storage" is not a releasestore extension`)
}

func TestStartErrors(t *testing.T) {
	missing := component.MustNewID("file_storage")
	s, err := env{cfg: func(c *Config) { c.Storage = &missing }}.create(t)
	require.NoError(t, err)
	err = s.Start(context.Background(), newHost(nil))
	assert.ErrorContains(t, err, `storage: extension "file_storage" is not configured`)
	require.NoError(t, s.Shutdown(context.Background()))

	notStorage := env{}.start(t)
	s, err = env{cfg: func(c *Config) { c.Storage = &missing }}.create(t)
	require.NoError(t, err)
	err = s.Start(context.Background(), newHost(map[component.ID]component.Component{missing: notStorage}))
	assert.ErrorContains(t, err, `"file_storage" is not a storage extension`)
	require.NoError(t, s.Shutdown(context.Background()))

	// A snapshot this build cannot read stops the start, loudly.
	client := &failingClient{data: map[string][]byte{"snapshot": []byte(`{"last_seq":0,"state":{"version":99}}`)}}
	s, err = withStorage(&fakeStorage{client: client}).create(t)
	require.NoError(t, err)
	err = s.Start(context.Background(), withStorage(&fakeStorage{client: client}).host)
	assert.ErrorContains(t, err, "snapshot has version 99")
	require.NoError(t, s.Shutdown(context.Background()))

	// The API port is taken.
	busy := env{}.start(t)
	s, err = env{cfg: func(c *Config) { c.NetAddr.Endpoint = busy.cfg.NetAddr.Endpoint }}.create(t)
	require.NoError(t, err)
	err = s.Start(context.Background(), newHost(nil))
	assert.ErrorContains(t, err, "releasestore: listening on "+busy.cfg.NetAddr.Endpoint)
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestInMemoryWarningAtStart(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	env{logger: zap.New(core)}.start(t)
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0].Message, "no storage configured")
	assert.Contains(t, warnings[0].Message, "kept in memory only and is lost on restart")
	assert.Equal(t, 1, logs.FilterMessageSnippet("Release store API listening").Len())

	// With storage there is no such warning, and the load is reported.
	core, logs = observer.New(zapcore.InfoLevel)
	e := withStorage(newFileStorage(t, t.TempDir()))
	e.logger = zap.New(core)
	e.start(t)
	assert.Zero(t, logs.FilterLevelExact(zapcore.WarnLevel).Len())
	loaded := logs.FilterMessage("Release store loaded persisted state").All()
	require.Len(t, loaded, 1)
	assert.Equal(t, "file_storage", loaded[0].ContextMap()["storage"])
}

func TestInternalMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := env{tel: tel, cfg: func(c *Config) { c.MaxKeys = 2; c.MaxDecisions = 1 }}.start(t)
	events := func(source, outcome string) int64 {
		v, _ := pointValue(t, tel, "otelcol.releasestore.events", attribute.String("source", source), attribute.String("outcome", outcome))
		return v
	}
	evictions := func(kind string) int64 {
		v, _ := pointValue(t, tel, "otelcol.releasestore.evictions", attribute.String("kind", kind))
		return v
	}
	gauge := func(name string) int64 { return metricValue(t, tel, name) }
	assert.Equal(t, int64(0), gauge("otelcol.releasestore.releases.active"))

	record(t, s, event("d1", release.EventStarted, "v1", 0), event("d1", release.EventSucceeded, "v1", time.Minute))
	record(t, s, event("d2", release.EventStarted, "v2", time.Hour))
	record(t, s, event("g1", release.EventSucceeded, "v1", time.Hour, withService("cart"), withSource("github")))
	record(t, s, event("g1", release.EventSucceeded, "v1", time.Hour, withService("cart"), withSource("github")))
	_, err := s.Record(context.Background(), []release.Event{event("d1", release.EventStarted, "v1", 0, withService("cart"), withSource("github"))})
	require.Error(t, err)

	assert.Equal(t, int64(3), events("native", "accepted"))
	assert.Equal(t, int64(1), events("github", "accepted"))
	assert.Equal(t, int64(1), events("github", "duplicate"))
	assert.Equal(t, int64(1), events("github", "rejected"))
	assert.Zero(t, events("native", "duplicate"))
	assert.Equal(t, int64(3), gauge("otelcol.releasestore.releases.active"), "d1, d2 (in progress) and g1")
	assert.Equal(t, int64(1), gauge("otelcol.releasestore.releases.in_progress"))
	assert.Equal(t, int64(2), gauge("otelcol.releasestore.keys"))
	assert.Zero(t, evictions("key"))

	// A third key evicts the idle cart key and its release.
	record(t, s, event("b1", release.EventSucceeded, "v1", 2*time.Hour, withService("billing")))
	assert.Equal(t, int64(1), evictions("key"))
	assert.Equal(t, int64(1), evictions("release"))
	assert.Equal(t, int64(3), gauge("otelcol.releasestore.releases.active"), "d1, d2, b1")
	assert.Equal(t, int64(2), gauge("otelcol.releasestore.keys"))

	for _, id := range []string{"dec-1", "dec-2"} {
		_, err := s.PublishDecision(context.Background(), testDecision(id, "d2"))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), evictions("decision"))
	assert.Equal(t, int64(2), metricValue(t, tel, "otelcol.releasestore.decisions", attribute.String("action", "rollback")))
	other := testDecision("dec-3", "d2")
	other.Action = release.ActionHold
	_, err = s.PublishDecision(context.Background(), other)
	require.NoError(t, err)
	assert.Equal(t, int64(1), metricValue(t, tel, "otelcol.releasestore.decisions", attribute.String("action", "hold")))
	assert.Equal(t, int64(2), evictions("decision"))

	record(t, s, event("d2", release.EventSucceeded, "v2", 3*time.Hour))
	assert.Equal(t, int64(2), gauge("otelcol.releasestore.releases.active"), "d1 superseded")
	assert.Equal(t, int64(0), gauge("otelcol.releasestore.releases.in_progress"))
}

func TestShutdownWithoutStart(t *testing.T) {
	s, err := env{}.create(t)
	require.NoError(t, err)
	assert.NoError(t, s.Shutdown(context.Background()))
}

func TestJournalRecordsAreWhatWasAcknowledged(t *testing.T) {
	client := &failingClient{data: map[string][]byte{}}
	s := withStorage(&fakeStorage{client: client}).start(t)
	record(t, s, event("d1", release.EventStarted, "v1", 0), event("d1", release.EventStarted, "v1", 0))
	record(t, s, event("d1", release.EventStarted, "v1", 0))
	// One log entry: the duplicates were answered without being written.
	_, _, records, err := journal.Open(context.Background(), client)
	require.NoError(t, err)
	require.Len(t, records, 1)
	assert.Equal(t, "d1", records[0].Event.ID)
}

// Subscribers are told in the order they subscribed; one that unsubscribes
// is told nothing more, and the others keep their order.
func TestSubscribersInOrderUntilTheyUnsubscribe(t *testing.T) {
	s := env{}.start(t)
	var told []string
	subscribe := func(name string) func() {
		return s.Subscribe(Subscriber{OnRelease: func(ReleaseChange) { told = append(told, name) }})
	}
	subscribe("a")
	unsubscribeB := subscribe("b")
	subscribe("c")
	record(t, s, event("d1", release.EventStarted, "v1", 0))
	assert.Equal(t, []string{"a", "b", "c"}, told)

	told = nil
	unsubscribeB()
	subscribe("d")
	record(t, s, event("d1", release.EventSucceeded, "v1", time.Minute))
	assert.Equal(t, []string{"a", "c", "d"}, told)
}
