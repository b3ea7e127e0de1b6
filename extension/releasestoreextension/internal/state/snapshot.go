package state

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

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
	Dedupe    []dedupeEntry                       `json:"dedupe"`
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
type Image struct{ doc snapshotDoc }

// Image copies the state for encoding elsewhere.
func (s *State) Image() *Image {
	doc := snapshotDoc{
		Version: snapshotVersion, KeyGen: s.keyGen, Keys: make([]keyDoc, 0, len(s.keys)),
		Decisions: append([]*release.Decision(nil), s.decisions...),
		Outcomes:  make(map[string][]*release.ActionOutcome, len(s.outcomes)),
		Reviews:   make(map[string]*release.Review, len(s.reviews)),
		Dedupe:    make([]dedupeEntry, 0, len(s.dedupe)),
	}
	for _, q := range []*keyQueue{s.idle, s.inProgress} {
		for ks := q.front(); ks != nil && ks != &q.root; ks = ks.next {
			doc.Keys = append(doc.Keys, keyDoc{
				Key: ks.key.String(), UpdatedAt: ks.updatedAt, Gen: ks.gen,
				Releases: append([]*release.Release(nil), ks.releases...),
			})
		}
	}
	for _, e := range s.dedupeOrder {
		if s.dedupe[e.Key].Equal(e.At) {
			doc.Dedupe = append(doc.Dedupe, e)
		}
	}
	for id, list := range s.outcomes {
		doc.Outcomes[id] = list // appends never touch the elements copied here
	}
	for id, r := range s.reviews {
		doc.Reviews[id] = r
	}
	return &Image{doc: doc}
}

// MarshalJSON encodes the image as a snapshot for Load.
func (im *Image) MarshalJSON() ([]byte, error) { return json.Marshal(im.doc) }

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
	for _, e := range doc.Dedupe {
		fresh.dedupe[e.Key] = e.At
		fresh.dedupeOrder = append(fresh.dedupeOrder, e)
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
