// Package journal persists the release store through any collector storage
// extension. storage.Client offers get, set, delete and batch but no scan, so
// the layout is a snapshot under one key plus a write-ahead log of records
// under sequential keys: opening reads the snapshot, then log entries from
// the snapshot's sequence on until the first missing key. Every record is
// written before the request that carried it is acknowledged.
package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/otelcol-release/otelcol-release/internal/jsonwrite"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

const snapshotKey = "snapshot"

func logKey(seq uint64) string {
	// "wal/%020d", written by hand: one per record appended.
	b := []byte("wal/00000000000000000000")
	for i := len(b) - 1; seq > 0; i-- {
		b[i] = byte('0' + seq%10)
		seq /= 10
	}
	return string(b)
}

// Record is one state change, exactly one of its fields set (Origin
// aside).
type Record struct {
	Event *release.Event `json:"event,omitempty"`
	// Events are the events of one request, applied all or none: a shared
	// log's writer cannot check them against a state other replicas change
	// meanwhile, so every replica checks them when it applies them.
	Events     []release.Event        `json:"events,omitempty"`
	Annotation *release.Annotation    `json:"annotation,omitempty"`
	Decision   *release.Decision      `json:"decision,omitempty"`
	Outcome    *release.ActionOutcome `json:"outcome,omitempty"`
	Review     *release.Review        `json:"review,omitempty"`
	// Origin names the store instance that wrote the record to a shared
	// log, so that it finds the results of its own records.
	Origin string `json:"origin,omitempty"`
}

type snapshotEnvelope struct {
	// LastSeq is the sequence of the last log record the state includes.
	LastSeq uint64          `json:"last_seq"`
	State   json.RawMessage `json:"state"`
}

// Journal appends records and compacts them into snapshots.
type Journal struct {
	client storage.Client
	// first and next delimit the log entries since the last snapshot.
	first, next uint64
}

// Open reads what is persisted: the last snapshot (nil if none) and the log
// records written after it, in order.
func Open(ctx context.Context, client storage.Client) (*Journal, []byte, []Record, error) {
	j := &Journal{client: client, first: 1, next: 1}
	var snapshot []byte
	raw, err := client.Get(ctx, snapshotKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading snapshot: %w", err)
	}
	if raw != nil {
		var env snapshotEnvelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, nil, nil, fmt.Errorf("decoding snapshot envelope: %w", err)
		}
		snapshot = env.State
		j.first, j.next = env.LastSeq+1, env.LastSeq+1
	}
	var records []Record
	for {
		raw, err := client.Get(ctx, logKey(j.next))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reading log entry %d: %w", j.next, err)
		}
		if raw == nil {
			break
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, nil, fmt.Errorf("decoding log entry %d: %w", j.next, err)
		}
		records = append(records, r)
		j.next++
	}
	return j, snapshot, records, nil
}

// Append writes records in one storage batch: all or none persist.
func (j *Journal) Append(ctx context.Context, records ...Record) error {
	encoded := make([][]byte, len(records))
	for i, r := range records {
		data, err := Encode(r)
		if err != nil {
			return err
		}
		encoded[i] = data
	}
	return j.AppendEncoded(ctx, encoded...)
}

// Encode encodes a record for AppendEncoded: writers encode before they
// queue for the journal, in parallel, rather than while holding it.
func Encode(r Record) ([]byte, error) {
	if r.Event != nil && r.Events == nil && r.Annotation == nil && r.Decision == nil && r.Outcome == nil && r.Review == nil {
		// One deploy event, the record written per delivery: the bytes
		// json.Marshal writes, without its reflection.
		var enc release.Encoder
		b, err := enc.AppendEvent(append(make([]byte, 0, 512), `{"event":`...), r.Event)
		if err != nil {
			return nil, fmt.Errorf("encoding log record: %w", err)
		}
		if r.Origin != "" {
			b = jsonwrite.String(append(b, `,"origin":`...), r.Origin)
		}
		return append(b, '}'), nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding log record: %w", err)
	}
	return data, nil
}

// AppendEncoded writes records encoded by Encode in one storage batch: all
// or none persist.
func (j *Journal) AppendEncoded(ctx context.Context, records ...[]byte) error {
	ops := make([]*storage.Operation, 0, len(records))
	for i, data := range records {
		ops = append(ops, storage.SetOperation(logKey(j.next+uint64(i)), data))
	}
	if err := j.client.Batch(ctx, ops...); err != nil {
		return err
	}
	j.next += uint64(len(records))
	return nil
}

// Len is the number of log records since the last snapshot.
func (j *Journal) Len() int { return int(j.next - j.first) }

// Compact writes a snapshot of the state that includes every record appended
// so far, and deletes those records, in one batch.
func (j *Journal) Compact(ctx context.Context, state []byte) error {
	first, last := j.Pending()
	if err := WriteSnapshot(ctx, j.client, state, first, last); err != nil {
		return err
	}
	j.Compacted(last)
	return nil
}

// Pending returns the sequences of the first and last log records since the
// last snapshot (first > last when there are none).
func (j *Journal) Pending() (first, last uint64) { return j.first, j.next - 1 }

// WriteSnapshot writes a snapshot of a state that includes the log records
// up to last, and deletes the records first..last, in one batch. It may run
// while records after last are appended; then call Compacted(last), under
// the lock that serialises Append. Until then a crash loses nothing: either
// the old snapshot and the whole log, or the new snapshot and the records
// after last, are there.
func WriteSnapshot(ctx context.Context, client storage.Client, state []byte, first, last uint64) error {
	return WriteSnapshotFrom(ctx, client, len(state), func(b []byte) ([]byte, error) { return append(b, state...), nil }, first, last)
}

// WriteSnapshotFrom is WriteSnapshot for a state that appendState encodes
// (in about sizeHint bytes) straight into the snapshot, rather than into
// a buffer of its own that is then copied: a snapshot is the whole state.
func WriteSnapshotFrom(ctx context.Context, client storage.Client, sizeHint int, appendState func([]byte) ([]byte, error), first, last uint64) error {
	// The envelope snapshotEnvelope decodes, written around the state as
	// it is: json.Marshal would validate and compact the whole state again.
	env := make([]byte, 0, sizeHint+48)
	env = strconv.AppendUint(append(env, `{"last_seq":`...), last, 10)
	env, err := appendState(append(env, `,"state":`...))
	if err != nil {
		return err
	}
	env = append(env, '}')
	ops := []*storage.Operation{storage.SetOperation(snapshotKey, env)}
	for seq := first; seq <= last; seq++ {
		ops = append(ops, storage.DeleteOperation(logKey(seq)))
	}
	if err := client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	return nil
}

// Compacted records that a snapshot including the records up to last was
// written.
func (j *Journal) Compacted(last uint64) {
	if last+1 > j.first {
		j.first = last + 1
	}
}

// Client is the storage client the journal writes to.
func (j *Journal) Client() storage.Client { return j.client }

// Close releases the storage client.
func (j *Journal) Close(ctx context.Context) error {
	if j == nil || j.client == nil {
		return nil
	}
	return j.client.Close(ctx)
}

// ErrUnavailable wraps failures to persist; the caller answers 503.
var ErrUnavailable = errors.New("release store cannot persist")
