// Package journal persists the release store through any collector storage
// extension. storage.Client offers get, set, delete and batch but no scan, so
// the layout is a snapshot under one key plus a write-ahead log of records
// under sequential keys: opening reads the snapshot, then log entries from
// the snapshot's sequence on until the first missing key. Every record is
// written before the request that carried it is acknowledged.
package journal

import (
	"bytes"
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
//
// Each append is one log entry under its own key: a record as a JSON
// object, or the records of a group commit as a JSON array of them, in
// order. A key per commit rather than per record makes a commit cheaper
// (of five records by a tenth, of ten by a quarter) and a compaction's
// deletions a fifth as many. (A build from before arrays fails to open
// such a log, loudly, rather than skip them.)
type Journal struct {
	client storage.Client
	// first and next delimit the log entries since the last snapshot.
	first, next uint64
	// counts are the records of entries first..next-1, and records their
	// sum: compaction follows the records, not the entries.
	counts  []int
	records int
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
		n := len(records)
		if records, err = decodeEntry(records, raw); err != nil {
			return nil, nil, nil, fmt.Errorf("decoding log entry %d: %w", j.next, err)
		}
		j.added(len(records) - n)
	}
	return j, snapshot, records, nil
}

// decodeEntry appends the records of one log entry: a record, or an array
// of the records of one commit.
func decodeEntry(records []Record, raw []byte) ([]Record, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var batch []Record
		if err := json.Unmarshal(raw, &batch); err != nil {
			return records, err
		}
		return append(records, batch...), nil
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return records, err
	}
	return append(records, r), nil
}

// added counts an entry of n records appended.
func (j *Journal) added(n int) {
	j.next++
	j.counts = append(j.counts, n)
	j.records += n
}

// Append writes records as one log entry: all or none persist.
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

// AppendEncoded writes records encoded by Encode as one log entry: all or
// none persist.
func (j *Journal) AppendEncoded(ctx context.Context, records ...[]byte) error {
	if len(records) == 0 {
		return nil
	}
	entry := records[0]
	if len(records) > 1 {
		size := 1
		for _, r := range records {
			size += len(r) + 1
		}
		entry = append(make([]byte, 0, size), '[')
		for i, r := range records {
			if i > 0 {
				entry = append(entry, ',')
			}
			entry = append(entry, r...)
		}
		entry = append(entry, ']')
	}
	if err := j.client.Batch(ctx, storage.SetOperation(logKey(j.next), entry)); err != nil {
		return err
	}
	j.added(len(records))
	return nil
}

// Len is the number of log records since the last snapshot.
func (j *Journal) Len() int { return j.records }

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

// Pending returns the sequences of the first and last log entries since the
// last snapshot (first > last when there are none).
func (j *Journal) Pending() (first, last uint64) { return j.first, j.next - 1 }

// WriteSnapshot writes a snapshot of a state that includes the log entries
// up to last, and deletes the entries first..last, in one batch. It may run
// while entries after last are appended; then call Compacted(last), under
// the lock that serialises Append. Until then a crash loses nothing: either
// the old snapshot and the whole log, or the new snapshot and the entries
// after last, are there. (The deletions go in the same batch: in separate
// ones, each rewrote the snapshot, which shares their end of the tree, and
// a compaction took 2 - 30 times as long.)
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
	if last+1 <= j.first {
		return
	}
	done := int(last + 1 - j.first)
	for _, n := range j.counts[:done] {
		j.records -= n
	}
	// Copied down rather than resliced, so that the slice does not grow
	// at its end while its head is dropped.
	j.counts = append(j.counts[:0], j.counts[done:]...)
	j.first = last + 1
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
