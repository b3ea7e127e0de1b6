package releasestoreextension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/journal"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// gatedClient is storage whose first write waits for the test to open the
// gate, so that the test can queue Record calls behind it; it counts the
// writes and the operations in each.
type gatedClient struct {
	*failingClient
	gate    chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	// batches are the log records each storage batch wrote.
	batches []int
}

func newGatedClient() *gatedClient {
	return &gatedClient{
		failingClient: &failingClient{data: map[string][]byte{}},
		gate:          make(chan struct{}), entered: make(chan struct{}, 1),
	}
}

func (c *gatedClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	first := len(c.batches) == 0
	c.batches = append(c.batches, recordsIn(ops))
	c.mu.Unlock()
	if first {
		c.entered <- struct{}{}
		<-c.gate
	}
	return c.failingClient.Batch(ctx, ops...)
}

// recordsIn counts the log records a batch sets: a log entry holds a
// record, or an array of those of one commit.
func recordsIn(ops []*storage.Operation) int {
	n := 0
	for _, op := range ops {
		if op.Type != storage.Set || !strings.HasPrefix(op.Key, "wal/") {
			continue
		}
		var batch []json.RawMessage
		if json.Unmarshal(op.Value, &batch) == nil {
			n += len(batch)
		} else {
			n++
		}
	}
	return n
}

func (c *gatedClient) batchSizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

func (s *releaseStore) pendingRequests() int {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	return len(s.pending)
}

type recordResult struct {
	out []Outcome
	err error
}

// queueBehindFirstCommit starts a store on a gated client, records first
// (its commit stays at the gate), then starts one Record call per request
// and waits until all are queued. openGate opens the gate and returns each
// call's result, in the order of requests.
func queueBehindFirstCommit(t *testing.T, client *gatedClient, first release.Event, requests ...[]release.Event) (s *releaseStore, openGate func() (recordResult, []recordResult)) {
	t.Helper()
	s = withStorage(&fakeStorage{client: client}).start(t)
	firstDone := make(chan recordResult, 1)
	go func() {
		out, err := s.Record(context.Background(), []release.Event{first})
		firstDone <- recordResult{out, err}
	}()
	<-client.entered
	results := make([]chan recordResult, len(requests))
	for i, events := range requests {
		results[i] = make(chan recordResult, 1)
		go func() {
			out, err := s.Record(context.Background(), events)
			results[i] <- recordResult{out, err}
		}()
		// Queue them in order: the batch keeps arrival order.
		require.Eventually(t, func() bool { return s.pendingRequests() == i+1 }, 5*time.Second, time.Millisecond)
	}
	return s, func() (recordResult, []recordResult) {
		close(client.gate)
		firstResult := <-firstDone
		out := make([]recordResult, len(requests))
		for i := range requests {
			out[i] = <-results[i]
		}
		return firstResult, out
	}
}

func TestConcurrentRecordsShareOneCommit(t *testing.T) {
	client := newGatedClient()
	const callers = 16
	requests := make([][]release.Event, callers)
	for i := range requests {
		name := fmt.Sprintf("svc-%d", i)
		requests[i] = []release.Event{
			event("stable-"+name, release.EventSucceeded, "v1", time.Minute, withService(name)),
			event("canary-"+name, release.EventStarted, "v2", time.Hour, withService(name), withPercent(10)),
		}
	}
	var (
		mu       sync.Mutex
		notified = map[string]bool{}
	)
	s, openGate := queueBehindFirstCommit(t, client, event("d1", release.EventStarted, "v1", 0), requests...)
	// Callbacks run on the callers' goroutines, concurrently.
	s.Subscribe(Subscriber{OnRelease: func(ch ReleaseChange) {
		mu.Lock()
		notified[ch.Release.ID] = true
		mu.Unlock()
	}})
	first, results := openGate()
	require.NoError(t, first.err)
	for i, r := range results {
		require.NoError(t, r.err, "caller %d", i)
		require.Len(t, r.out, 2)
		assert.Equal(t, "canary-"+fmt.Sprintf("svc-%d", i), r.out[1].Release.ID)
	}
	assert.Equal(t, []int{1, 2 * callers}, client.batchSizes(), "the 16 queued calls went to storage in one batch")
	for i := range callers {
		v := s.Service(serviceKey(fmt.Sprintf("svc-%d", i)))
		require.NotNil(t, v)
		assert.Equal(t, fmt.Sprintf("stable-svc-%d", i), v.Keys[0].Control.ID)
	}
	// Each caller's changes were announced before its call returned.
	mu.Lock()
	for i := range callers {
		assert.True(t, notified[fmt.Sprintf("canary-svc-%d", i)], i)
	}
	mu.Unlock()

	// The log holds what was acknowledged, in order.
	_, _, records, err := journal.Open(context.Background(), client)
	require.NoError(t, err)
	require.Len(t, records, 1+2*callers)
	assert.Equal(t, "d1", records[0].Event.ID)
	assert.Equal(t, "stable-svc-0", records[1].Event.ID)
	assert.Equal(t, "canary-svc-15", records[2*callers].Event.ID)
}

// TestGroupCommitChecksEachCallAfterTheOnesBefore: within one batch, a call
// is checked as if the calls queued before it were applied. A conflicting
// call is rejected alone; a repeated delivery is a duplicate.
func TestGroupCommitChecksEachCallAfterTheOnesBefore(t *testing.T) {
	client := newGatedClient()
	s, openGate := queueBehindFirstCommit(t, client, event("d1", release.EventStarted, "v1", 0),
		[]release.Event{event("c1", release.EventStarted, "v1", time.Minute, withService("cart"))},
		// c1 is cart's: naming it for billing contradicts the call before.
		[]release.Event{
			event("b1", release.EventStarted, "v1", time.Minute, withService("billing")),
			event("c1", release.EventSucceeded, "v1", 2*time.Minute, withService("billing")),
		},
		// The same delivery as the first queued call, and a new one.
		[]release.Event{
			event("c1", release.EventStarted, "v1", time.Minute, withService("cart")),
			event("c1", release.EventSucceeded, "v1", 2*time.Minute, withService("cart")),
		},
	)
	_, results := openGate()
	require.NoError(t, results[0].err)
	fe, ok := release.AsFieldError(results[1].err)
	require.True(t, ok, "want a conflict, got %v", results[1].err)
	assert.Equal(t, "conflict", fe.Rule)
	assert.Contains(t, fe.Message, `deployment "c1" belongs to shop/cart@production`)
	require.NoError(t, results[2].err)
	assert.True(t, results[2].out[0].Duplicate)
	assert.False(t, results[2].out[1].Duplicate)
	assert.Equal(t, release.StatusSucceeded, results[2].out[1].Release.Status)

	_, ok = s.Release("b1")
	assert.False(t, ok, "the rejected call stored nothing")
	assert.Nil(t, s.Service(serviceKey("billing")))
	assert.Equal(t, []int{1, 2}, client.batchSizes(), "c1 started and c1 succeeded")
}

// TestGroupCommitFailureFailsTheWholeBatch: when the batch cannot be
// written, every call in it gets the error and nothing of it is applied;
// the senders' retries then succeed.
func TestGroupCommitFailureFailsTheWholeBatch(t *testing.T) {
	client := newGatedClient()
	requests := [][]release.Event{
		{event("c1", release.EventStarted, "v1", time.Minute, withService("cart"))},
		{event("b1", release.EventStarted, "v1", time.Minute, withService("billing"))},
	}
	s, openGate := queueBehindFirstCommit(t, client, event("d1", release.EventStarted, "v1", 0), requests...)
	client.setFail(true)
	first, results := openGate()
	for _, r := range append([]recordResult{first}, results...) {
		require.Error(t, r.err)
		assert.True(t, errors.Is(r.err, ErrUnavailable), "got %v", r.err)
		assert.True(t, errors.Is(r.err, errDiskFull), "got %v", r.err)
	}
	assert.Empty(t, s.Live())
	for _, name := range []string{"checkout", "cart", "billing"} {
		assert.Nil(t, s.Service(serviceKey(name)), name)
	}

	client.setFail(false)
	for _, events := range requests {
		out := record(t, s, events...)
		assert.False(t, out[0].Duplicate, "a failed delivery is not remembered")
	}
	assert.Len(t, s.Live(), 2)
}

// TestGroupCommitReplays: what concurrent callers were acknowledged is
// what a restart replays, with a snapshot written in the background while
// they went on.
func TestGroupCommitReplays(t *testing.T) {
	dir := t.TempDir()
	st := newFileStorage(t, dir)
	s := withStorage(st).start(t)
	const callers, perCaller = 16, 300
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perCaller {
				name := fmt.Sprintf("svc-%d", c)
				e := event(fmt.Sprintf("%s-%d", name, i), release.EventStarted, fmt.Sprintf("v%d", i), time.Duration(i)*time.Minute, withService(name))
				if _, err := s.Record(context.Background(), []release.Event{e}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.waitCompaction()
	s.mu.Unlock()
	raw, err := st.lastClient(t).Get(context.Background(), "snapshot")
	require.NoError(t, err)
	require.NotNil(t, raw, "4,800 records are compacted")
	want := snapshot(s)
	views := map[string]*ServiceView{}
	for c := range callers {
		views[fmt.Sprintf("svc-%d", c)] = s.Service(serviceKey(fmt.Sprintf("svc-%d", c)))
	}
	require.NoError(t, s.Shutdown(context.Background()))

	s2 := withStorage(newFileStorage(t, dir)).start(t)
	assert.Equal(t, want.releases, snapshot(s2).releases)
	for name, v := range views {
		assert.Equal(t, v, s2.Service(serviceKey(name)), name)
		assert.Equal(t, fmt.Sprintf("%s-%d", name, perCaller-1), v.Keys[0].Active.ID)
	}
}

// TestGroupCommitForgetsAFailedBatch: what a failed batch bound (its
// deployment ids, its delivery ids) binds nothing afterwards: commits
// reuse their working sets, and a failed one must leave them empty.
func TestGroupCommitForgetsAFailedBatch(t *testing.T) {
	client := newGatedClient()
	s, openGate := queueBehindFirstCommit(t, client, event("d1", release.EventStarted, "v1", 0),
		[]release.Event{event("x1", release.EventStarted, "v1", time.Minute, withService("cart"))})
	client.setFail(true)
	first, results := openGate()
	require.Error(t, first.err)
	require.Error(t, results[0].err)

	client.setFail(false)
	out := record(t, s, event("x1", release.EventStarted, "v1", 2*time.Minute, withService("billing")))
	assert.False(t, out[0].Duplicate)
	require.NotNil(t, s.Service(serviceKey("billing")), "x1 now names billing's release")
	assert.Nil(t, s.Service(serviceKey("cart")))
}
