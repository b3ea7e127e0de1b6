package state

import (
	"sort"
	"strings"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// ServiceView is the read-only, hot-path view of one service in one
// environment: what the correlation processor needs to stamp and compare.
// Views are immutable once built.
type ServiceView struct {
	Service release.ServiceKey
	// Keys are the service's release keys, most specific scope first; the
	// unscoped key, if any, is last.
	Keys []KeyView
}

// ScopeAttr is one attribute a scoped key requires of a resource.
type ScopeAttr struct{ Name, Value string }

// KeyView is one release key's current state.
type KeyView struct {
	Scope []ScopeAttr
	// ScopeKey is the canonical form of Scope ("k=v,k2=v2"; empty when the
	// key covers the whole environment).
	ScopeKey string
	// Active is the newest live release: the candidate while it rolls out,
	// the stable version afterwards. Nil when nothing is live.
	Active *release.Release
	// Previous is the newest earlier release of another version: the
	// version Active replaced.
	Previous *release.Release
	// Control is Previous while it is still live next to an Active that is
	// rolling out (canary, blue-green, rolling); nil otherwise.
	Control *release.Release
}

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
	sort.SliceStable(v.Keys, func(i, j int) bool { return len(v.Keys[i].Scope) > len(v.Keys[j].Scope) })
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
			if r := ks.releases[i]; release.NormalizeVersion(r.Version()) != v && (!wantLive || r.Status.Live()) {
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
