package state

import (
	"slices"
	"strings"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// The views are defined with the release records, where the components
// that read them through the store's roles can name them.
type (
	ServiceView = release.ServiceView
	KeyView     = release.KeyView
	ScopeAttr   = release.ScopeAttr
)

// ServiceView builds the view of a service; nil when the store has none.
func (s *State) ServiceView(sk release.ServiceKey) *ServiceView {
	list := s.byService[sk]
	if len(list) == 0 {
		return nil
	}
	v := &ServiceView{Service: sk, Keys: make([]KeyView, 0, len(list))}
	for _, ks := range list {
		v.Keys = append(v.Keys, keyView(ks))
	}
	slices.SortStableFunc(v.Keys, func(a, b KeyView) int { return len(b.Scope) - len(a.Scope) })
	return v
}

func keyView(ks *keyState) KeyView {
	kv := KeyView{ScopeKey: ks.key.Scope}
	if ks.key.Scope != "" {
		for _, pair := range strings.Split(ks.key.Scope, ",") {
			name, value, _ := strings.Cut(pair, "=")
			kv.Scope = append(kv.Scope, ScopeAttr{Name: name, Value: value})
		}
	}
	active := -1
	for i := len(ks.releases) - 1; i >= 0; i-- {
		if ks.releases[i].Status.Live() {
			active = i
			break
		}
	}
	if active < 0 {
		return kv
	}
	kv.Active = ks.releases[active]
	// Previous is the newest earlier release of another version, preferring
	// one still live: with v2 superseded by a stacked v3, v1 is what v3
	// replaces.
	v := release.NormalizeVersion(kv.Active.Version())
	for _, wantLive := range []bool{true, false} {
		for i := active - 1; i >= 0 && kv.Previous == nil; i-- {
			// The status first: it is a field, the version a map lookup,
			// and most of a long history is not live.
			if r := ks.releases[i]; (!wantLive || r.Status.Live()) && release.NormalizeVersion(r.Version()) != v {
				kv.Previous = r
			}
		}
	}
	if kv.Previous != nil && kv.Previous.Status.Live() && kv.Active.Status == release.StatusInProgress {
		kv.Control = kv.Previous
	}
	return kv
}

// Services lists the service keys the state holds.
func (s *State) Services() []release.ServiceKey {
	out := make([]release.ServiceKey, 0, len(s.byService))
	for sk := range s.byService {
		out = append(out, sk)
	}
	return out
}
