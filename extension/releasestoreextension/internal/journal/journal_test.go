package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// fileStorage starts a real file_storage extension on dir and returns a
// function that opens a new client on it, closed at the end of the test.
func fileStorage(t testing.TB, dir string) func() storage.Client {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(context.Background())) })
	return func() storage.Client {
		c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExtension, component.MustNewID("releasestore"), "")
		require.NoError(t, err)
		return c
	}
}

func eventRecord(id string, typ release.EventType) Record {
	p := 25.0
	return Record{Event: &release.Event{
		ID: id, Type: typ, Time: t0, ReceivedAt: t0.Add(time.Second), Source: "native",
		Attributes: map[string]string{
			release.AttrServiceName: "checkout", release.AttrServiceVersion: "v2",
			release.AttrDeploymentEnvironment: "production",
		},
		Release: release.Context{RolloutPercentage: &p, Strategy: release.StrategyCanary},
	}}
}

func annotationRecord(id string) Record {
	return Record{Annotation: &release.Annotation{
		ID: id, ReleaseID: "d1", Label: "root_cause", Text: "bad config", CreatedAt: t0,
	}}
}

func decisionRecord(id string) Record {
	return Record{Decision: &release.Decision{
		DecisionID: id, Action: release.ActionRollback, Verdict: release.VerdictRegression,
		Cause: release.CauseEndogenous, Confidence: 0.995, DecidedAt: t0,
		Release:  map[string]string{release.AttrDeploymentID: "d1"},
		Evidence: []release.Evidence{{Signal: "error_rate", Control: 0.01, Candidate: 0.05}},
	}}
}

func TestOpenEmpty(t *testing.T) {
	client := fileStorage(t, t.TempDir())()
	defer func() { require.NoError(t, client.Close(context.Background())) }()
	j, snapshot, records, err := Open(context.Background(), client)
	require.NoError(t, err)
	assert.Nil(t, snapshot)
	assert.Empty(t, records)
	assert.Equal(t, 0, j.Len())
}

func TestAppendThenOpenInOrder(t *testing.T) {
	ctx := context.Background()
	open := fileStorage(t, t.TempDir())
	client := open()
	j, _, _, err := Open(ctx, client)
	require.NoError(t, err)
	written := []Record{eventRecord("d1", release.EventStarted), annotationRecord("ann-1"), decisionRecord("dec-1"), eventRecord("d1", release.EventSucceeded)}
	require.NoError(t, j.Append(ctx, written[0]))
	require.NoError(t, j.Append(ctx, written[1:]...))
	assert.Equal(t, 4, j.Len())
	require.NoError(t, j.Close(ctx))

	client = open()
	j, snapshot, records, err := Open(ctx, client)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close(ctx)) }()
	assert.Nil(t, snapshot)
	assert.Equal(t, written, records)
	assert.Equal(t, 4, j.Len())

	// One entry per append: a record, or an array of the records of one.
	raw, err := client.Get(ctx, logKey(2))
	require.NoError(t, err)
	var batch []Record
	require.NoError(t, json.Unmarshal(raw, &batch), "%s", raw)
	assert.Equal(t, written[1:], batch)

	// Appending after a reopen continues the sequence.
	require.NoError(t, j.Append(ctx, eventRecord("d2", release.EventStarted)))
	raw, err = client.Get(ctx, logKey(3))
	require.NoError(t, err)
	var r Record
	require.NoError(t, json.Unmarshal(raw, &r))
	assert.Equal(t, "d2", r.Event.ID)
}

// A log written a record per entry, as builds before array entries wrote
// it, opens, and entries appended after continue it; the record count
// follows records, not entries, across compactions.
func TestOpenReadsEntriesOfEitherLayout(t *testing.T) {
	ctx := context.Background()
	c := newMemClient()
	old := []Record{eventRecord("d1", release.EventStarted), annotationRecord("ann-1")}
	for i, r := range old {
		require.NoError(t, c.Set(ctx, logKey(uint64(i+1)), mustEncode(t, r)))
	}
	j, _, records, err := Open(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, old, records)
	assert.Equal(t, 2, j.Len())
	newer := []Record{decisionRecord("dec-1"), eventRecord("d1", release.EventSucceeded), eventRecord("d2", release.EventStarted)}
	require.NoError(t, j.Append(ctx, newer...))
	assert.Equal(t, 5, j.Len())
	first, last := j.Pending()
	assert.Equal(t, uint64(1), first)
	assert.Equal(t, uint64(3), last, "three entries")

	j, _, records, err = Open(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, append(old, newer...), records)
	assert.Equal(t, 5, j.Len())
	// A compaction of the first two entries leaves the third's records.
	require.NoError(t, WriteSnapshot(ctx, c, []byte(`{"version":1}`), 1, 2))
	j.Compacted(2)
	assert.Equal(t, 3, j.Len())

	// An entry that is neither a record nor an array of them is named.
	require.NoError(t, c.Set(ctx, logKey(4), []byte(`[{"event":{"id":1}}]`)))
	_, _, _, err = Open(ctx, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decoding log entry 4")
}

func mustEncode(t *testing.T, r Record) []byte {
	t.Helper()
	data, err := Encode(r)
	require.NoError(t, err)
	return data
}

func TestCompactThenOpen(t *testing.T) {
	ctx := context.Background()
	open := fileStorage(t, t.TempDir())
	client := open()
	j, _, _, err := Open(ctx, client)
	require.NoError(t, err)
	require.NoError(t, j.Append(ctx, eventRecord("d1", release.EventStarted), eventRecord("d1", release.EventProgressed)))
	require.NoError(t, j.Append(ctx, annotationRecord("ann-1")))
	require.NoError(t, j.Compact(ctx, []byte(`{"version":1,"keys":[]}`)))
	assert.Equal(t, 0, j.Len())
	for seq := uint64(1); seq <= 2; seq++ {
		raw, err := client.Get(ctx, logKey(seq))
		require.NoError(t, err)
		assert.Nil(t, raw, "log entry %d is deleted by the compaction", seq)
	}
	later := []Record{decisionRecord("dec-1"), eventRecord("d1", release.EventSucceeded)}
	require.NoError(t, j.Append(ctx, later...))
	assert.Equal(t, 2, j.Len())
	require.NoError(t, j.Close(ctx))

	client = open()
	j, snapshot, records, err := Open(ctx, client)
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"keys":[]}`, string(snapshot))
	assert.Equal(t, later, records)
	assert.Equal(t, 2, j.Len())

	// A second compaction covers only what came after the first.
	require.NoError(t, j.Compact(ctx, []byte(`{"version":1,"n":2}`)))
	require.NoError(t, j.Close(ctx))
	client = open()
	j, snapshot, records, err = Open(ctx, client)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close(ctx)) }()
	assert.JSONEq(t, `{"version":1,"n":2}`, string(snapshot))
	assert.Empty(t, records)
	raw, err := client.Get(ctx, snapshotKey)
	require.NoError(t, err)
	assert.JSONEq(t, `{"last_seq":3,"state":{"version":1,"n":2}}`, string(raw))
}

// memClient is a storage.Client in memory whose Batch can be made to fail.
type memClient struct {
	mu      sync.Mutex
	data    map[string][]byte
	failGet error
	failAll error
	batches int
	closed  bool
}

func newMemClient() *memClient { return &memClient{data: map[string][]byte{}} }

func (c *memClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failGet != nil {
		return nil, c.failGet
	}
	return c.data[key], nil
}

func (c *memClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *memClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	if c.failAll != nil {
		return c.failAll
	}
	next := maps.Clone(c.data)
	for _, op := range ops {
		switch op.Type {
		case storage.Set:
			next[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(next, op.Key)
		case storage.Get:
			op.Value = next[op.Key]
		}
	}
	c.data = next
	return nil
}

func (c *memClient) Close(context.Context) error {
	c.closed = true
	return nil
}

func (c *memClient) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.data))
	for k := range c.data {
		out = append(out, k)
	}
	return out
}

func TestBatchFailureLeavesTheLogUnchanged(t *testing.T) {
	ctx := context.Background()
	client := newMemClient()
	j, _, _, err := Open(ctx, client)
	require.NoError(t, err)
	require.NoError(t, j.Append(ctx, eventRecord("d1", release.EventStarted)))
	assert.Equal(t, uint64(2), j.next)

	boom := errors.New("disk full")
	client.failAll = boom
	err = j.Append(ctx, eventRecord("d2", release.EventStarted), eventRecord("d3", release.EventStarted))
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, uint64(2), j.next, "next is unchanged by a failed append")
	assert.Equal(t, 1, j.Len())
	err = j.Compact(ctx, []byte(`{}`))
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, j.Len(), "a failed compaction keeps the log")
	assert.Equal(t, uint64(1), j.first)

	// Once storage is back, the next record takes the sequence the failed
	// append did not use: the log has no hole that would end it early.
	client.failAll = nil
	require.NoError(t, j.Append(ctx, eventRecord("d4", release.EventStarted)))
	assert.ElementsMatch(t, []string{logKey(1), logKey(2)}, client.keys())
	_, _, records, err := Open(ctx, client)
	require.NoError(t, err)
	require.Len(t, records, 2)
	assert.Equal(t, "d1", records[0].Event.ID)
	assert.Equal(t, "d4", records[1].Event.ID)
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("storage", func(t *testing.T) {
		client := newMemClient()
		client.failGet = errors.New("io error")
		_, _, _, err := Open(ctx, client)
		assert.ErrorContains(t, err, "reading snapshot: io error")
	})
	t.Run("bad snapshot", func(t *testing.T) {
		client := newMemClient()
		client.data[snapshotKey] = []byte("{")
		_, _, _, err := Open(ctx, client)
		assert.ErrorContains(t, err, "decoding snapshot envelope")
	})
	t.Run("bad log entry", func(t *testing.T) {
		client := newMemClient()
		client.data[logKey(1)] = []byte(`{"event":{}}`)
		client.data[logKey(2)] = []byte(`[`)
		_, _, _, err := Open(ctx, client)
		assert.ErrorContains(t, err, "decoding log entry 2")
	})
	t.Run("log entries before the snapshot are ignored", func(t *testing.T) {
		client := newMemClient()
		client.data[snapshotKey] = []byte(`{"last_seq":7,"state":{"v":1}}`)
		client.data[logKey(7)] = []byte(`{"event":{"id":"old"}}`)
		client.data[logKey(8)] = []byte(`{"event":{"id":"new"}}`)
		j, snapshot, records, err := Open(ctx, client)
		require.NoError(t, err)
		assert.JSONEq(t, `{"v":1}`, string(snapshot))
		require.Len(t, records, 1)
		assert.Equal(t, "new", records[0].Event.ID)
		assert.Equal(t, 1, j.Len())
	})
}

func TestLogKeysSortInSequenceOrder(t *testing.T) {
	assert.Equal(t, "wal/00000000000000000001", logKey(1))
	assert.Less(t, logKey(9), logKey(10))
	assert.Less(t, logKey(99999), logKey(100000))
	for _, seq := range []uint64{0, 7, 1234567890, math.MaxUint64} {
		assert.Equal(t, fmt.Sprintf("wal/%020d", seq), logKey(seq))
	}
}

func TestCloseNil(t *testing.T) {
	var j *Journal
	assert.NoError(t, j.Close(context.Background()))
	c := newMemClient()
	j = &Journal{client: c}
	assert.NoError(t, j.Close(context.Background()))
	assert.True(t, c.closed)
}

// TestAppendEncoded: records encoded ahead (outside the store's lock) are
// written and read back like appended ones, in order after them.
func TestAppendEncoded(t *testing.T) {
	open := fileStorage(t, t.TempDir())
	c := open()
	j, _, _, err := Open(context.Background(), c)
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), eventRecord("a", release.EventStarted)))
	var encoded [][]byte
	for _, id := range []string{"b", "c"} {
		data, err := Encode(eventRecord(id, release.EventSucceeded))
		require.NoError(t, err)
		encoded = append(encoded, data)
	}
	require.NoError(t, j.AppendEncoded(context.Background(), encoded...))
	assert.Equal(t, 3, j.Len())
	require.NoError(t, c.Close(context.Background()))

	c2 := open()
	defer c2.Close(context.Background())
	_, _, records, err := Open(context.Background(), c2)
	require.NoError(t, err)
	require.Len(t, records, 3)
	for i, id := range []string{"a", "b", "c"} {
		assert.Equal(t, id, records[i].Event.ID)
	}
	assert.Equal(t, eventRecord("b", release.EventSucceeded), records[1])
}

// TestSnapshotWrittenWhileAppending: a snapshot of the records up to some
// sequence, written while later records are appended, deletes only the
// records it includes; reopening gives it and the later records.
func TestSnapshotWrittenWhileAppending(t *testing.T) {
	open := fileStorage(t, t.TempDir())
	c := open()
	j, _, _, err := Open(context.Background(), c)
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), eventRecord("a", release.EventStarted), eventRecord("b", release.EventStarted)))
	first, last := j.Pending()
	assert.Equal(t, uint64(1), first)
	assert.Equal(t, uint64(1), last, "the two records are one entry")
	assert.Equal(t, 2, j.Len())
	// "c" is appended after the state was copied, before the snapshot is
	// written.
	require.NoError(t, j.Append(context.Background(), eventRecord("c", release.EventStarted)))
	require.NoError(t, WriteSnapshot(context.Background(), j.Client(), []byte(`{"up_to":"b"}`), first, last))
	j.Compacted(last)
	assert.Equal(t, 1, j.Len())
	require.NoError(t, c.Close(context.Background()))

	c2 := open()
	defer c2.Close(context.Background())
	j2, snapshot, records, err := Open(context.Background(), c2)
	require.NoError(t, err)
	assert.JSONEq(t, `{"up_to":"b"}`, string(snapshot))
	require.Len(t, records, 1)
	assert.Equal(t, "c", records[0].Event.ID)
	assert.Equal(t, 1, j2.Len())
}

// Encode writes a one-event record without reflection; its bytes are
// json.Marshal's, with and without an origin, and every other record
// still goes through encoding/json.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	withOrigin := eventRecord("d2", release.EventStarted)
	withOrigin.Origin = "replica-a <1>"
	withFlags := eventRecord("d3", release.EventProgressed)
	pct := 12.5
	withFlags.Event.Release = release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct,
		FeatureFlags: []release.FeatureFlag{{Key: "k", Variant: "on"}}, Scope: map[string]string{"k8s.cluster.name": "eu-1"}}
	for _, r := range []Record{eventRecord("d1", release.EventStarted), withOrigin, withFlags, annotationRecord("a1"), decisionRecord("x1"),
		{Events: []release.Event{*eventRecord("d4", release.EventSucceeded).Event}}} {
		got, err := Encode(r)
		require.NoError(t, err)
		want, err := json.Marshal(r)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

// A state that cannot be encoded writes no snapshot and keeps the log.
func TestWriteSnapshotFromEncoderError(t *testing.T) {
	open := fileStorage(t, t.TempDir())
	c := open()
	defer c.Close(context.Background())
	j, _, _, err := Open(context.Background(), c)
	require.NoError(t, err)
	require.NoError(t, j.Append(context.Background(), eventRecord("a", release.EventStarted)))
	first, last := j.Pending()
	errEncode := errors.New("cannot encode")
	err = WriteSnapshotFrom(context.Background(), c, 64, func(b []byte) ([]byte, error) { return append(b, `{"partial`...), errEncode }, first, last)
	require.ErrorIs(t, err, errEncode)
	_, snapshot, records, err := Open(context.Background(), c)
	require.NoError(t, err)
	assert.Nil(t, snapshot)
	require.Len(t, records, 1)
}
