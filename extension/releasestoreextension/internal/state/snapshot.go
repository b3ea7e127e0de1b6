package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// snapshotVersion changes when the encoding does; Load refuses others.
const snapshotVersion = 1

type snapshotDoc struct {
	Version   int                                 `json:"version"`
	Keys      []keyDoc                            `json:"keys"`
	Dedupe    []dedupeEntry                       `json:"dedupe"`
	Decisions []*release.Decision                 `json:"decisions"`
	Outcomes  map[string][]*release.ActionOutcome `json:"outcomes,omitempty"`
	Reviews   map[string]*release.Review          `json:"reviews,omitempty"`
}

type keyDoc struct {
	Key       string             `json:"key"`
	UpdatedAt time.Time          `json:"updated_at"`
	Releases  []*release.Release `json:"releases"`
}

// MarshalJSON encodes the whole state.
func (s *State) MarshalJSON() ([]byte, error) {
	doc := snapshotDoc{Version: snapshotVersion, Decisions: s.decisions, Outcomes: s.outcomes, Reviews: s.reviews}
	for _, ks := range s.keys {
		doc.Keys = append(doc.Keys, keyDoc{Key: ks.key.String(), UpdatedAt: ks.updatedAt, Releases: ks.releases})
	}
	for _, e := range s.dedupeOrder {
		if s.dedupe[e.Key].Equal(e.At) {
			doc.Dedupe = append(doc.Dedupe, e)
		}
	}
	return json.Marshal(doc)
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
	for _, kd := range doc.Keys {
		if len(kd.Releases) == 0 {
			continue
		}
		k := kd.Releases[0].Key()
		ks := fresh.keyFor(k, kd.UpdatedAt)
		ks.updatedAt = kd.UpdatedAt
		for _, r := range kd.Releases {
			ks.releases = append(ks.releases, r)
			fresh.byID[r.ID] = ks
			fresh.releaseCount++
		}
	}
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
