package detect

import (
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Resources often carry no service.version (only k8s.pod.name or
// k8s.deployment.name). A pod runs one version, so once one of its signals
// says which, the others can be attributed: hints remember, per service,
// the version of each pod uid, pod name, service.instance.id and ReplicaSet
// (every pod of a ReplicaSet runs the same template, so one versioned pod
// teaches the version of its siblings).

// hintIdentities are the resource attributes that identify what runs one
// version, most specific first.
var hintIdentities = []string{"k8s.pod.uid", "k8s.pod.name", "service.instance.id", "k8s.replicaset.name"}

type hintKey struct {
	service release.ServiceKey
	attr    string
	value   string
}

// hintTable is bounded by generations: when the current map is full it
// becomes the old one and the previous old one is dropped, so what is still
// in use survives (it is copied forward on use) and the rest ages out.
type hintTable struct {
	mu       sync.RWMutex
	cur, old map[hintKey]string
	max      int
}

// MaxHints bounds the learned version hints.
const MaxHints = 50000

func newHintTable(max int) *hintTable {
	return &hintTable{cur: map[hintKey]string{}, old: map[hintKey]string{}, max: max}
}

// replicaSetOf derives a pod's ReplicaSet from its name: Deployment pods are
// named <replicaset>-<5 characters>, and the ReplicaSet name ends in the
// pod-template hash, which changes with every version.
func replicaSetOf(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 || len(pod)-i-1 != 5 {
		return ""
	}
	rs := pod[:i]
	if strings.LastIndexByte(rs, '-') <= 0 {
		return ""
	}
	return rs
}

// identities calls f with each identity the resource carries.
func identities(attrs pcommon.Map, f func(attr, value string) bool) {
	for _, name := range hintIdentities {
		if v, ok := attrs.Get(name); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			if !f(name, v.Str()) {
				return
			}
		}
	}
	if _, has := attrs.Get("k8s.replicaset.name"); !has {
		if v, ok := attrs.Get("k8s.pod.name"); ok && v.Type() == pcommon.ValueTypeStr {
			if rs := replicaSetOf(v.Str()); rs != "" {
				f("k8s.replicaset.name", rs)
			}
		}
	}
}

// Learn remembers the version of what a versioned resource identifies.
func (h *hintTable) Learn(sk release.ServiceKey, attrs pcommon.Map, version string) {
	identities(attrs, func(attr, value string) bool {
		k := hintKey{sk, attr, value}
		h.mu.RLock()
		known := h.cur[k] == version
		h.mu.RUnlock()
		if !known {
			h.mu.Lock()
			h.putLocked(k, version)
			h.mu.Unlock()
		}
		return true
	})
}

func (h *hintTable) putLocked(k hintKey, version string) {
	if len(h.cur) >= h.max/2 {
		h.old, h.cur = h.cur, make(map[hintKey]string, len(h.cur))
	}
	h.cur[k] = version
}

// Version returns the version learned for the resource's most specific
// identity, or "".
func (h *hintTable) Version(sk release.ServiceKey, attrs pcommon.Map) string {
	var out string
	identities(attrs, func(attr, value string) bool {
		k := hintKey{sk, attr, value}
		h.mu.RLock()
		v, ok := h.cur[k]
		if !ok {
			v, ok = h.old[k]
		}
		h.mu.RUnlock()
		if ok {
			out = v
			return false
		}
		return true
	})
	return out
}

// Len is the number of hints held.
func (h *hintTable) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.cur) + len(h.old)
}
