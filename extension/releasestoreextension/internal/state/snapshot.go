package state

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/jsonwrite"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// snapshotVersion changes when the encoding does; Load refuses others.
const snapshotVersion = 1

type snapshotDoc struct {
	Version int `json:"version"`
	// Keys are in eviction order: the idle queue, then the in-progress
	// one, each least recently touched first. KeyGen is the key
	// generation; a snapshot written before it existed has none, and its
	// keys are queued by update time.
	KeyGen    uint64                              `json:"key_gen,omitempty"`
	Keys      []keyDoc                            `json:"keys"`
	Dedupe    []dedupeDoc                         `json:"dedupe"`
	Decisions []*release.Decision                 `json:"decisions"`
	Outcomes  map[string][]*release.ActionOutcome `json:"outcomes,omitempty"`
	Reviews   map[string]*release.Review          `json:"reviews,omitempty"`
}

type keyDoc struct {
	Key       string             `json:"key"`
	UpdatedAt time.Time          `json:"updated_at"`
	Gen       uint64             `json:"gen,omitempty"`
	Releases  []*release.Release `json:"releases"`
}

// MarshalJSON encodes the whole state.
func (s *State) MarshalJSON() ([]byte, error) {
	return s.Image().MarshalJSON()
}

// Image is a copy of the state, taken in O(entries) pointer copies, that
// can be encoded while the state goes on changing: releases, decisions and
// outcomes are never changed once stored (changes replace them), so only
// the containers are copied.
type Image struct {
	doc snapshotDoc
	// dedupe are the de-duplication entries, written as doc.Dedupe is
	// read: copied as hashes and times, which hold no pointers, and
	// formatted only when encoded, outside the writers' lock.
	dedupe []dedupeEntry
}

// Image copies the state for encoding elsewhere.
func (s *State) Image() *Image {
	doc := snapshotDoc{
		Version: snapshotVersion, KeyGen: s.keyGen, Keys: make([]keyDoc, 0, len(s.keys)),
		Decisions: append([]*release.Decision(nil), s.decisions...),
		Outcomes:  make(map[string][]*release.ActionOutcome, len(s.outcomes)),
		Reviews:   make(map[string]*release.Review, len(s.reviews)),
	}
	dedupe := make([]dedupeEntry, 0, len(s.dedupe))
	for _, q := range []*keyQueue{s.idle, s.inProgress} {
		for ks := q.front(); ks != nil && ks != &q.root; ks = ks.next {
			doc.Keys = append(doc.Keys, keyDoc{
				Key: ks.key.String(), UpdatedAt: ks.updatedAt, Gen: ks.gen,
				Releases: append([]*release.Release(nil), ks.releases...),
			})
		}
	}
	for _, e := range s.dedupeOrder {
		if s.dedupe[e.ID] == e.At {
			dedupe = append(dedupe, e)
		}
	}
	for id, list := range s.outcomes {
		doc.Outcomes[id] = list // appends never touch the elements copied here
	}
	for id, r := range s.reviews {
		doc.Reviews[id] = r
	}
	return &Image{doc: doc, dedupe: dedupe}
}

// MarshalJSON encodes the image as a snapshot for Load: the bytes
// json.Marshal(im.doc) gives, with keys and releases, which grow with the
// state, written without reflection (release.Encoder) and the capped
// parts (decisions, outcomes, reviews) through encoding/json.
func (im *Image) MarshalJSON() ([]byte, error) {
	return im.AppendJSON(make([]byte, 0, im.SizeHint()))
}

// SizeHint is about the size of the encoded image (what a release and a
// de-duplication entry take), so that a buffer of it rarely grows.
func (im *Image) SizeHint() int {
	d := &im.doc
	releases := 0
	for i := range d.Keys {
		releases += len(d.Keys[i].Releases)
	}
	return 256 + len(d.Keys)*128 + releases*768 + len(im.dedupe)*80
}

// AppendJSON appends what MarshalJSON returns to b.
func (im *Image) AppendJSON(b []byte) ([]byte, error) {
	d := &im.doc
	var enc release.Encoder
	b = strconv.AppendInt(append(b, `{"version":`...), int64(d.Version), 10)
	if d.KeyGen != 0 {
		b = strconv.AppendUint(append(b, `,"key_gen":`...), d.KeyGen, 10)
	}
	b = append(b, `,"keys":`...)
	var err error
	b = jsonArray(b, d.Keys == nil, len(d.Keys), func(b []byte, i int) []byte {
		kd := &d.Keys[i]
		b = jsonwrite.String(append(b, `{"key":`...), kd.Key)
		if b, err = jsonwrite.Time(append(b, `,"updated_at":`...), kd.UpdatedAt); err != nil {
			return b
		}
		if kd.Gen != 0 {
			b = strconv.AppendUint(append(b, `,"gen":`...), kd.Gen, 10)
		}
		b = jsonArray(append(b, `,"releases":`...), kd.Releases == nil, len(kd.Releases), func(b []byte, j int) []byte {
			if err == nil {
				b, err = enc.AppendRelease(b, kd.Releases[j])
			}
			return b
		})
		return append(b, '}')
	})
	if err != nil {
		return nil, err
	}
	b = append(b, `,"dedupe":`...)
	b = jsonwrite.Array(b, len(im.dedupe), func(b []byte, i int) []byte {
		// Images hold hashes only; keys (k) are in older snapshots. Hex
		// digits need no escaping.
		e := &im.dedupe[i]
		b = append(hex.AppendEncode(append(b, `{"h":"`...), e.ID[:]), '"')
		if err == nil {
			b, err = jsonwrite.Time(append(b, `,"t":`...), time.Unix(0, e.At).UTC())
		}
		return append(b, '}')
	})
	if err != nil {
		return nil, err
	}
	for _, part := range []struct {
		name      string
		value     any
		omitEmpty bool
	}{{"decisions", d.Decisions, false}, {"outcomes", d.Outcomes, len(d.Outcomes) == 0}, {"reviews", d.Reviews, len(d.Reviews) == 0}} {
		if part.omitEmpty {
			continue
		}
		data, err := json.Marshal(part.value)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `,"`...), part.name...), `":`...)
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

// jsonArray appends an array of n elements written by elem, or null.
func jsonArray(b []byte, isNil bool, n int, elem func(b []byte, i int) []byte) []byte {
	if isNil {
		return append(b, "null"...)
	}
	return jsonwrite.Array(b, n, elem)
}

// Load replaces the state with a snapshot produced by MarshalJSON.
func (s *State) Load(data []byte) error {
	var doc snapshotDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("decoding release store snapshot: %w", err)
	}
	if doc.Version != snapshotVersion {
		return fmt.Errorf("release store snapshot has version %d; this build reads version %d", doc.Version, snapshotVersion)
	}
	fresh := New(s.limits)
	fresh.keyGen = doc.KeyGen
	if doc.KeyGen == 0 {
		sort.SliceStable(doc.Keys, func(i, j int) bool { return doc.Keys[i].UpdatedAt.Before(doc.Keys[j].UpdatedAt) })
	}
	for _, kd := range doc.Keys {
		if len(kd.Releases) == 0 {
			continue
		}
		ks, ok := fresh.keys[kd.Releases[0].Key()]
		if !ok {
			ks = fresh.addKey(kd.Releases[0].Key(), kd.UpdatedAt)
		}
		ks.gen = kd.Gen
		for _, r := range kd.Releases {
			ks.releases = append(ks.releases, r)
			fresh.byID[r.ID] = ks
			fresh.releaseCount++
		}
		fresh.enqueue(ks)
	}
	// A lower max_keys than the snapshot was written with applies now.
	for fresh.limits.MaxKeys > 0 && len(fresh.keys) > fresh.limits.MaxKeys {
		fresh.evictKey()
	}
	// Those releases were never evaluated in this process: no event's
	// Change names them.
	fresh.evictedReleases = nil
	for i, e := range doc.Dedupe {
		var id deliveryID
		if e.Key != "" {
			id = deliveryIDOf(e.Key)
		} else if n, err := hex.Decode(id[:], []byte(e.Hash)); err != nil || n != len(id) {
			return fmt.Errorf("decoding release store snapshot: dedupe[%d].h: %q is not a delivery hash", i, e.Hash)
		}
		at := e.At.UnixNano()
		fresh.dedupe[id] = at
		fresh.dedupeOrder = append(fresh.dedupeOrder, dedupeEntry{ID: id, At: at})
	}
	for _, d := range doc.Decisions {
		fresh.ApplyDecision(d)
	}
	for id, list := range doc.Outcomes {
		fresh.outcomes[id] = list
	}
	for id, r := range doc.Reviews {
		fresh.reviews[id] = r
	}
	fresh.evictions = s.evictions
	*s = *fresh
	return nil
}
