package state

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// busyState is a state with every kind of content: several services,
// scoped keys, live and ended releases, annotations, decisions and
// de-duplication entries.
func busyState(t *testing.T) *State {
	t.Helper()
	s := New(testLimits())
	stable(t, s)
	apply(t, s,
		ev("d2", release.EventStarted, "v2", time.Hour, withStrategy(release.StrategyCanary), withPercent(10), func(e *release.Event) {
			e.Release.FeatureFlags = []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}
			e.Release.Intent = "move cart pricing to the new engine"
			e.Release.Risk = "high"
			e.Release.Owner = "team-payments"
			e.Attributes[release.AttrVCSRevision] = "9f2c1e7"
		}),
		ev("d2", release.EventProgressed, "v2", 70*time.Minute, withPercent(50)),
		ev("eu1", release.EventSucceeded, "v2", 80*time.Minute, withScope("k8s.cluster.name", "eu-1")),
		ev("c1", release.EventStarted, "v7", 2*time.Hour, withService("cart"), withSource("github")),
		ev("c1", release.EventFailed, "v7", 3*time.Hour, withService("cart"), withSource("github")),
	)
	_, err := s.ApplyAnnotation(release.Annotation{
		ID: "ann-1", ReleaseID: "d2", DecisionID: "dec-1", Label: "false_alarm", Text: "load test",
		Link: "https://example.com/x", Author: "ana", CreatedAt: t0.Add(4 * time.Hour),
	})
	require.NoError(t, err)
	s.ApplyDecision(decision("dec-1", "d2", 90*time.Minute))
	s.ApplyDecision(decision("dec-2", "c1", 100*time.Minute))
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := busyState(t)
	data, err := s.MarshalJSON()
	require.NoError(t, err)

	loaded := New(testLimits())
	// Whatever the fresh state held is replaced.
	apply(t, loaded, ev("gone", release.EventStarted, "v1", 0, withService("gone")))
	require.NoError(t, loaded.Load(data))

	assert.Equal(t, s.Releases(nil), loaded.Releases(nil))
	assert.Len(t, loaded.Releases(nil), 4)
	assert.Equal(t, s.Decisions(nil), loaded.Decisions(nil))
	assert.Len(t, loaded.Decisions(nil), 2)
	assert.Equal(t, s.Counts(), loaded.Counts())
	assert.ElementsMatch(t, s.Services(), loaded.Services())
	for _, sk := range []release.ServiceKey{checkout, {Namespace: "shop", Name: "cart", Environment: "production"}} {
		want, got := s.ServiceView(sk), loaded.ServiceView(sk)
		require.NotNil(t, got, sk.String())
		assert.Equal(t, want, got, sk.String())
	}
	assert.Nil(t, loaded.ServiceView(release.ServiceKey{Namespace: "shop", Name: "gone", Environment: "production"}))
	kv := unscoped(t, loaded)
	assert.Equal(t, "d2", idOf(kv.Active))
	assert.Equal(t, "d1", idOf(kv.Control))
	assert.Equal(t, pct(50), kv.Active.Release.RolloutPercentage)
	require.Len(t, kv.Active.Annotations, 1)
	assert.Equal(t, "false_alarm", kv.Active.Annotations[0].Label)

	for _, e := range []*release.Event{
		ev("d1", release.EventStarted, "v1", 0),
		ev("d2", release.EventProgressed, "v2", 70*time.Minute, withPercent(50)),
		ev("c1", release.EventFailed, "v7", 3*time.Hour, withService("cart"), withSource("github")),
	} {
		assert.True(t, s.Duplicate(e), e.ID)
		assert.True(t, loaded.Duplicate(e), "%s %s is still a duplicate after loading", e.ID, e.Type)
	}
	for _, e := range []*release.Event{
		ev("d2", release.EventProgressed, "v2", 70*time.Minute, withPercent(60)),
		ev("c1", release.EventFailed, "v7", 3*time.Hour, withService("cart")),
		ev("d1", release.EventStarted, "v1", 0, withReceivedAt(25*time.Hour)),
	} {
		assert.False(t, loaded.Duplicate(e), "%s %s", e.ID, e.Type)
	}
	assert.True(t, loaded.HasDecision("dec-1"))
	assert.Error(t, loaded.Check(ev("d1", release.EventStarted, "v1", 0, withService("cart"))),
		"the deployment id index is rebuilt")

	// The loaded state goes on exactly like the original.
	next := ev("d2", release.EventSucceeded, "v2", 5*time.Hour)
	want, got := s.ApplyEvent(next), loaded.ApplyEvent(next)
	assert.Equal(t, want, got)
	assert.Equal(t, s.Releases(nil), loaded.Releases(nil))

	// And marshals to the same document.
	again, err := loaded.MarshalJSON()
	require.NoError(t, err)
	orig, err := s.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, canonical(t, orig), canonical(t, again))
}

// canonical decodes a snapshot with its keys in a stable order: MarshalJSON
// writes keys in map order.
func canonical(t *testing.T, data []byte) snapshotDoc {
	t.Helper()
	var doc snapshotDoc
	require.NoError(t, json.Unmarshal(data, &doc))
	byKey := map[string]keyDoc{}
	for _, k := range doc.Keys {
		byKey[k.Key] = k
	}
	doc.Keys = nil
	for _, name := range []string{"shop/checkout@production", "shop/checkout@production[k8s.cluster.name=eu-1]", "shop/cart@production"} {
		k, ok := byKey[name]
		require.True(t, ok, name)
		doc.Keys = append(doc.Keys, k)
	}
	require.Len(t, byKey, 3)
	return doc
}

func TestSnapshotOfEmptyState(t *testing.T) {
	data, err := New(testLimits()).MarshalJSON()
	require.NoError(t, err)
	s := New(testLimits())
	require.NoError(t, s.Load(data))
	assert.Equal(t, Counts{}, s.Counts())
	assert.Empty(t, s.Releases(nil))
}

func TestSnapshotDropsExpiredDedupeEntries(t *testing.T) {
	l := testLimits()
	l.DedupeWindow = time.Hour
	s := New(l)
	apply(t, s, ev("a", release.EventStarted, "v1", 0), ev("b", release.EventStarted, "v2", 2*time.Hour))
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	var doc snapshotDoc
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Len(t, doc.Dedupe, 1, "a's entry expired when b was remembered")
	assert.Equal(t, t0.Add(2*time.Hour), doc.Dedupe[0].At)
}

func TestLoadRejectsOtherSnapshotVersions(t *testing.T) {
	s := busyState(t)
	before := s.Releases(nil)
	for _, v := range []int{0, 2} {
		err := s.Load([]byte(`{"version":` + string(rune('0'+v)) + `,"keys":[]}`))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "snapshot has version")
		assert.Contains(t, err.Error(), "reads version 1")
	}
	err := s.Load([]byte(`{"version":`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decoding release store snapshot")
	assert.Equal(t, before, s.Releases(nil), "a rejected snapshot leaves the state as it was")
}

// MarshalJSON writes keys and releases by hand; its bytes are what
// encoding/json writes for the same image, for a state with every kind of
// content and for an empty one.
func TestSnapshotEncodingMatchesEncodingJSON(t *testing.T) {
	busy := busyState(t)
	busy.ApplyOutcome(&release.ActionOutcome{ID: "o-1", DecisionID: "dec-1", ReleaseID: "d2", Target: "argo", TargetType: "argocd",
		Action: release.ActionNotify, Status: "succeeded", Detail: "sent <ok> & done", At: t0.Add(5 * time.Hour)})
	busy.ApplyReview(&release.Review{DecisionID: "dec-2", Approved: true, Actor: "ana"})
	for name, s := range map[string]*State{"busy": busy, "empty": New(testLimits())} {
		im := s.Image()
		got, err := im.MarshalJSON()
		require.NoError(t, err)
		want, err := json.Marshal(referenceDoc(im))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
	}
	data, err := busy.Image().MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"outcomes":{"dec-1":[`, "the busy state has every part")
	assert.Contains(t, string(data), `"reviews":{"dec-2":`)
	assert.Contains(t, string(data), `"annotations":[`)
}

// referenceDoc is the document an image encodes, its de-duplication
// entries included, for encoding/json to write.
func referenceDoc(im *Image) snapshotDoc {
	doc := im.doc
	doc.Dedupe = make([]dedupeDoc, 0, len(im.dedupe))
	for _, e := range im.dedupe {
		doc.Dedupe = append(doc.Dedupe, dedupeDoc{Hash: hex.EncodeToString(e.ID[:]), At: time.Unix(0, e.At).UTC()})
	}
	return doc
}

// Deliveries are remembered by hash; a snapshot written before that holds
// their keys, and still de-duplicates them once loaded. A snapshot of
// hashes does too.
func TestSnapshotDedupeEntriesByKeyOrHash(t *testing.T) {
	delivery := ev("a", release.EventStarted, "v1", 0)
	again := ev("a", release.EventStarted, "v1", 0, withReceivedAt(time.Minute))
	s := New(testLimits())
	apply(t, s, delivery)
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Regexp(t, `^\[\{"h":"[0-9a-f]{32}","t":"[^"]+"\}\]$`, string(doc["dedupe"]))

	withKeys := map[string]json.RawMessage{}
	for k, v := range doc {
		withKeys[k] = v
	}
	key, err := json.Marshal(delivery.DedupeKey())
	require.NoError(t, err)
	withKeys["dedupe"] = json.RawMessage(`[{"k":` + string(key) + `,"t":"2026-11-24T10:00:00Z"}]`)
	old, err := json.Marshal(withKeys)
	require.NoError(t, err)

	for name, snapshot := range map[string][]byte{"hashes": data, "keys (before hashing)": old} {
		loaded := New(testLimits())
		require.NoError(t, loaded.Load(snapshot), name)
		assert.True(t, loaded.Duplicate(again), "%s: the delivery is remembered", name)
		assert.False(t, loaded.Duplicate(ev("b", release.EventStarted, "v1", 0)), name)
	}

	doc["dedupe"] = json.RawMessage(`[{"h":"not-hex","t":"2026-11-24T10:00:00Z"}]`)
	bad, err := json.Marshal(doc)
	require.NoError(t, err)
	err = New(testLimits()).Load(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `dedupe[0].h: "not-hex" is not a delivery hash`)
}
