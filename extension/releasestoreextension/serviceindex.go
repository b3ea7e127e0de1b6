package releasestoreextension

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// serviceIndex maps service keys to their hot-path views. Readers take no
// lock and allocate nothing; the one writer (under the store's lock) adds a
// service in O(1) amortized. A copy-on-write map copied every service for
// each new one (half the CPU when new services arrived).
//
// It is an open-addressing hash table of slots, probed linearly. A slot,
// once placed, stays at its position in that table: a removed service
// leaves its slot with a nil view (a tombstone that a returning service
// reuses), so a reader probing concurrently never misses a slot that was
// there when it started. When slots (live and tombstones) would fill more
// than 3/4 of the table, the writer builds a new table of the live slots and
// publishes it; readers still on the old one see the same slots.
type serviceIndex struct {
	table atomic.Pointer[slotTable]
	// used counts the current table's slots, live or tombstone; live
	// those with a view. Only the writer reads or writes them.
	used, live int
}

type slotTable struct {
	slots []atomic.Pointer[serviceSlot] // len is a power of two
}

type serviceSlot struct {
	hash uint64 // of key, compared first: probes pass other slots cheaply
	key  release.ServiceKey
	view atomic.Pointer[ServiceView]
}

var indexSeed = maphash.MakeSeed()

// hashServiceKey leaves the namespace out: it seldom tells services apart,
// and the lookup compares whole keys anyway.
func hashServiceKey(k release.ServiceKey) uint64 {
	return maphash.String(indexSeed, k.Name)*31 ^ maphash.String(indexSeed, k.Environment)
}

// is compares the fields most likely to differ first.
func (slot *serviceSlot) is(h uint64, k release.ServiceKey) bool {
	return slot.hash == h && slot.key.Name == k.Name && slot.key.Environment == k.Environment && slot.key.Namespace == k.Namespace
}

const minIndexSlots = 64

func newServiceIndex() *serviceIndex {
	x := &serviceIndex{}
	x.table.Store(&slotTable{slots: make([]atomic.Pointer[serviceSlot], minIndexSlots)})
	return x
}

// lookup returns the service's view, or nil. Safe for concurrent use.
func (x *serviceIndex) lookup(k release.ServiceKey) *ServiceView {
	t := x.table.Load()
	h := hashServiceKey(k)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		slot := t.slots[i].Load()
		if slot == nil {
			return nil
		}
		if slot.is(h, k) {
			return slot.view.Load()
		}
	}
}

// set publishes a service's view; nil removes the service. Writer only.
func (x *serviceIndex) set(k release.ServiceKey, view *ServiceView) {
	t := x.table.Load()
	h := hashServiceKey(k)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		slot := t.slots[i].Load()
		if slot == nil {
			break
		}
		if slot.is(h, k) {
			switch old := slot.view.Swap(view); {
			case old == nil && view != nil:
				x.live++
			case old != nil && view == nil:
				x.live--
			}
			return
		}
	}
	if view == nil {
		return
	}
	slot := &serviceSlot{hash: h, key: k}
	slot.view.Store(view)
	if (x.used+1)*4 > len(t.slots)*3 {
		x.rebuild(slot)
		return
	}
	t.slots[i].Store(slot)
	x.used++
	x.live++
}

// rebuild publishes a new table holding the live slots and extra, sized so
// that at least as many services can be added again before the next one:
// each rebuild is paid for by the inserts since the last.
func (x *serviceIndex) rebuild(extra *serviceSlot) {
	old := x.table.Load()
	n := minIndexSlots
	for n < (x.live+1)*4 {
		n *= 2
	}
	t := &slotTable{slots: make([]atomic.Pointer[serviceSlot], n)}
	x.used, x.live = 0, 0
	place := func(slot *serviceSlot) {
		mask := uint64(n - 1)
		i := slot.hash & mask
		for t.slots[i].Load() != nil {
			i = (i + 1) & mask
		}
		t.slots[i].Store(slot)
		x.used++
		x.live++
	}
	for i := range old.slots {
		if slot := old.slots[i].Load(); slot != nil && slot.view.Load() != nil {
			place(slot)
		}
	}
	place(extra)
	x.table.Store(t)
}

// reset replaces the whole index, after loading. Writer only.
func (x *serviceIndex) reset(views map[release.ServiceKey]*ServiceView) {
	n := minIndexSlots
	for n < (len(views)+1)*4 {
		n *= 2
	}
	t := &slotTable{slots: make([]atomic.Pointer[serviceSlot], n)}
	mask := uint64(n - 1)
	for k, v := range views {
		slot := &serviceSlot{hash: hashServiceKey(k), key: k}
		slot.view.Store(v)
		i := slot.hash & mask
		for t.slots[i].Load() != nil {
			i = (i + 1) & mask
		}
		t.slots[i].Store(slot)
	}
	x.used, x.live = len(views), len(views)
	x.table.Store(t)
}
