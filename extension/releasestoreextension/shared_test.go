package releasestoreextension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// testPostgres returns the test server's DSN and a fresh schema.
func testPostgres(t testing.TB) (dsn, schema string) {
	return testhost.PostgresSchema(t, "store_test")
}

// replica is one collector's store of a fleet sharing dsn/schema.
func replica(t testing.TB, dsn, schema, name string, mutate ...func(*Config)) *releaseStore {
	t.Helper()
	return env{cfg: func(c *Config) {
		sc := c.Shared.GetOrInsertDefault()
		sc.PostgreSQL.DSN = configopaque.String(dsn)
		sc.PostgreSQL.Schema = schema
		sc.Replica = name
		for _, m := range mutate {
			m(c)
		}
	}}.start(t)
}

// releaseWatcher collects what a store's subscribers are told.
type releaseWatcher struct {
	mu        sync.Mutex
	releases  map[string]time.Time
	decisions []string
	reviews   []string
}

func watch(s Store) *releaseWatcher {
	w := &releaseWatcher{releases: map[string]time.Time{}}
	s.Subscribe(Subscriber{
		OnRelease: func(ch ReleaseChange) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if ch.Release != nil {
				if _, ok := w.releases[ch.Release.ID]; !ok {
					w.releases[ch.Release.ID] = time.Now()
				}
			}
		},
		OnDecision: func(d *release.Decision) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.decisions = append(w.decisions, d.DecisionID)
		},
		OnReview: func(d *release.Decision, r release.Review) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.reviews = append(w.reviews, d.DecisionID)
		},
	})
	return w
}

func (w *releaseWatcher) seen(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.releases[id]
	return at, ok
}

// A deploy event posted to one replica is acknowledged once durable and is
// visible, with its subscribers told, on every other within a second.
func TestSharedEventReachesEveryReplica(t *testing.T) {
	dsn, schema := testPostgres(t)
	a := replica(t, dsn, schema, "a")
	b := replica(t, dsn, schema, "b")
	c := replica(t, dsn, schema, "c")
	wb, wc := watch(b), watch(c)

	sent := time.Now()
	out := record(t, a, event("deploy-1", release.EventStarted, "v2", 0))
	require.NotNil(t, out[0].Release)
	require.Equal(t, release.StatusInProgress, out[0].Release.Status)
	// The writer applied it before answering.
	_, ok := a.Release("deploy-1")
	require.True(t, ok)
	for name, w := range map[string]*releaseWatcher{"b": wb, "c": wc} {
		require.Eventually(t, func() bool { _, ok := w.seen("deploy-1"); return ok }, 5*time.Second, 5*time.Millisecond, "replica %s never saw the event", name)
		at, _ := w.seen("deploy-1")
		assert.Less(t, at.Sub(sent), time.Second, "replica %s saw it after %s", name, at.Sub(sent))
	}
	// The hot-path view too: telemetry reaching b is stamped.
	require.Eventually(t, func() bool { return b.Service(checkoutKey) != nil }, 5*time.Second, 5*time.Millisecond)

	// A duplicate delivery to another replica changes nothing.
	dup := record(t, c, event("deploy-1", release.EventStarted, "v2", 0))
	assert.True(t, dup[0].Duplicate)
}

// Two replicas publishing the same decision at once, or answering the same
// review: exactly one takes effect, everywhere.
func TestSharedDecisionsAndReviewsTakeEffectOnce(t *testing.T) {
	dsn, schema := testPostgres(t)
	a := replica(t, dsn, schema, "a")
	b := replica(t, dsn, schema, "b")
	wa, wb := watch(a), watch(b)
	record(t, a, event("deploy-1", release.EventStarted, "v2", 0))
	require.Eventually(t, func() bool { _, ok := b.Release("deploy-1"); return ok }, 5*time.Second, 5*time.Millisecond)

	var added atomic.Int32
	var wg sync.WaitGroup
	for _, s := range []*releaseStore{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.PublishDecision(context.Background(), testDecision("dec-1", "deploy-1"))
			assert.NoError(t, err)
			if ok {
				added.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), added.Load(), "one publication of the decision takes effect")
	require.Eventually(t, func() bool {
		wa.mu.Lock()
		defer wa.mu.Unlock()
		wb.mu.Lock()
		defer wb.mu.Unlock()
		return len(wa.decisions) == 1 && len(wb.decisions) == 1
	}, 5*time.Second, 5*time.Millisecond, "every replica is told of the decision once")

	// It waits for approval on a target; both replicas are asked at once.
	require.NoError(t, a.RecordOutcome(context.Background(), release.ActionOutcome{
		ID: "out-1", DecisionID: "dec-1", ReleaseID: "deploy-1", Target: "argo", Action: release.ActionRollback,
		Status: release.OutcomePending, At: t0.Add(time.Hour)}))
	require.Eventually(t, func() bool { p, _ := b.PendingDecision("dec-1"); return p }, 5*time.Second, 5*time.Millisecond)
	errs := make(chan error, 2)
	for i, s := range []*releaseStore{a, b} {
		go func() {
			_, err := s.Review(context.Background(), release.Review{DecisionID: "dec-1", Approved: true, Actor: fmt.Sprintf("sre-%d", i), At: t0.Add(2 * time.Hour)})
			errs <- err
		}()
	}
	var ok, notPending int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrNotPending):
			notPending++
		default:
			t.Fatalf("review: %v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, notPending)
	require.Eventually(t, func() bool {
		wa.mu.Lock()
		defer wa.mu.Unlock()
		wb.mu.Lock()
		defer wb.mu.Unlock()
		return len(wa.reviews) == 1 && len(wb.reviews) == 1
	}, 5*time.Second, 5*time.Millisecond, "every replica hears of the one review")
}

// Two replicas accept, at the same moment, events that contradict each
// other (one deployment id, two services): both are in the log, and every
// replica applies the first and rejects the second alike.
func TestSharedConflictingWritesAgree(t *testing.T) {
	dsn, schema := testPostgres(t)
	a := replica(t, dsn, schema, "a")
	b := replica(t, dsn, schema, "b")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*releaseStore{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Record(context.Background(), []release.Event{
				event(fmt.Sprintf("evt-%d", i), release.EventStarted, "v2", 0, withService(fmt.Sprintf("svc-%d", i)),
					func(e *release.Event) { e.Attributes[release.AttrDeploymentID] = "shared-id" })})
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			var fe *release.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "attributes."+release.AttrDeploymentID, fe.Field)
		}
	}
	require.Equal(t, 1, failed, "one of two conflicting writes is rejected")
	require.Eventually(t, func() bool {
		ra, oka := a.Release("shared-id")
		rb, okb := b.Release("shared-id")
		return oka && okb && ra.Key() == rb.Key()
	}, 5*time.Second, 5*time.Millisecond, "both replicas hold the same winner")
}

// A replica that starts later, or restarts, loads the state from the
// shared store: snapshot and log.
func TestSharedLateReplicaLoadsTheState(t *testing.T) {
	dsn, schema := testPostgres(t)
	// Small caps, so that the log outgrows twice the state, and is
	// snapshotted, within a few thousand records.
	small := func(c *Config) { c.MaxKeys, c.MaxDedupeEntries = 50, 500 }
	a := replica(t, dsn, schema, "a", small)
	start := time.Now()
	// Enough records for a snapshot, from concurrent clients (grouped into
	// fewer transactions).
	var wg sync.WaitGroup
	const clients, each = 16, compactEvery/16 + 20
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := c*each + i
				_, err := a.Record(context.Background(), []release.Event{event(fmt.Sprintf("d-%d", n), release.EventStarted, "v2",
					time.Duration(n)*time.Second, withService(fmt.Sprintf("svc-%d", n%300)))})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d events from %d clients in %s", clients*each, clients, time.Since(start))
	live := a.Live()
	require.NotEmpty(t, live)
	kept := live[0].ID
	ok, err := a.PublishDecision(context.Background(), testDecision("dec-1", kept))
	require.NoError(t, err)
	require.True(t, ok)
	db, err := a.Fleet().DB()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		seq, _, err := db.LoadSnapshot(context.Background())
		return err == nil && seq > 0
	}, 10*time.Second, 50*time.Millisecond, "a snapshot of the shared state is written")
	late := replica(t, dsn, schema, "late", small)
	_, known := late.Release(kept)
	assert.True(t, known)
	_, _, known = late.Decision("dec-1")
	assert.True(t, known)
	assert.Equal(t, a.counts(), late.counts())
}

// The database unreachable: writes answer unavailable and store nothing;
// reads and the hot path go on from the last state; writes work again once
// it is back.
func TestSharedUnreachableDatabase(t *testing.T) {
	dsn, schema := testPostgres(t)
	a := replica(t, dsn, schema, "a")
	record(t, a, event("deploy-1", release.EventStarted, "v2", 0))

	// Point a second replica at a port nobody listens on: it starts, and
	// says why it cannot store anything.
	down := replica(t, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1", schema, "down")
	_, err := down.Record(context.Background(), []release.Event{event("deploy-2", release.EventStarted, "v3", time.Minute)})
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = down.PublishDecision(context.Background(), testDecision("dec-x", "deploy-1"))
	require.Error(t, err)
	resp, err := http.Get("http://" + down.cfg.NetAddr.Endpoint + "/api/v1/fleet")
	require.NoError(t, err)
	var st fleetStatus
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	assert.False(t, st.Connected)
	assert.Contains(t, st.Error, "127.0.0.1:1")

	// The healthy replica's state is untouched by the failed writes.
	_, known := a.Release("deploy-2")
	assert.False(t, known)
	resp, err = http.Get("http://" + a.cfg.NetAddr.Endpoint + "/api/v1/fleet")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	assert.True(t, st.Connected, "%+v", st)
	assert.Equal(t, "a", st.Replica)
	require.Eventually(t, func() bool {
		return strings.Contains(string(mustJSON(a.fleetStatus(context.Background()).Replicas)), `"a"`)
	}, 5*time.Second, 10*time.Millisecond, "the replica's heartbeat is listed")
}

func TestSharedConfigValidation(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sc := cfg.Shared.GetOrInsertDefault()
	sc.PostgreSQL.Schema = "Bad-Schema"
	cfg.Storage = &storageID
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"storage and shared", "shared::postgresql::dsn: is required", "shared::postgresql::schema: must be a lower-case SQL identifier"} {
		assert.Contains(t, err.Error(), want)
	}
}

// A replica reports the requests it sends to the shared database, so an
// operator can size PostgreSQL to the fleet; each write adds to it.
func TestSharedRoundTripsMetric(t *testing.T) {
	dsn, schema := testPostgres(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := env{tel: tel, cfg: func(c *Config) {
		sc := c.Shared.GetOrInsertDefault()
		sc.PostgreSQL.DSN = configopaque.String(dsn)
		sc.PostgreSQL.Schema = schema
		sc.Replica = "a"
	}}.start(t)
	const name = "otelcol.releasestore.shared.round_trips"
	before, ok := pointValue(t, tel, name)
	require.True(t, ok, "%s is reported", name)
	require.Positive(t, before, "connecting and loading took requests")
	record(t, s, event("deploy-1", release.EventStarted, "v2", 0))
	after, _ := pointValue(t, tel, name)
	assert.Greater(t, after, before, "a write adds requests")
}
