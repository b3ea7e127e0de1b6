package testhost

import "runtime"

// LiveHeap is the heap still allocated after two collections (the second
// frees what the first's finalizers released): what the memory benchmarks
// count per key.
func LiveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
