// Package memlimit gives the Go runtime a soft memory limit derived from the
// container's memory limit when GOMEMLIMIT is not set. Without one, a Go
// process in a container lets its heap grow to twice the live heap before
// collecting, and near the limit the kernel first squeezes out the binary's
// own pages (the collector then crawls, re-reading its code) and then kills
// it; the collector's Helm chart avoids that by setting GOMEMLIMIT, and this
// does the same for every other way of running it.
package memlimit

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Ratio is the share of the container's limit given to the Go heap, as the
// collector's Helm chart sets it: the rest is for goroutine stacks, the
// binary's pages and the page cache of the files it writes.
const Ratio = 0.8

// Host locates the files read; tests point it at a fake tree.
type Host struct {
	ProcSelfCgroup string // /proc/self/cgroup
	CgroupRoot     string // /sys/fs/cgroup
}

// System is the running host.
var System = Host{ProcSelfCgroup: "/proc/self/cgroup", CgroupRoot: "/sys/fs/cgroup"}

// Group is the calling process's place in one memory cgroup hierarchy.
type Group struct {
	Mount string // the hierarchy's mount: CgroupRoot (v2) or CgroupRoot/memory (v1)
	Dir   string // the process's group within it
	V2    bool
}

// LimitFile names the group's memory limit file.
func (g Group) LimitFile() string {
	if g.V2 {
		return "memory.max"
	}
	return "memory.limit_in_bytes"
}

// MemoryGroups lists the calling process's memory cgroups, v1 and v2, in
// the order /proc/self/cgroup gives them.
func (h Host) MemoryGroups() []Group {
	data, err := os.ReadFile(h.ProcSelfCgroup)
	if err != nil {
		return nil
	}
	var groups []Group
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			groups = append(groups, Group{Mount: h.CgroupRoot, Dir: filepath.Join(h.CgroupRoot, parts[2]), V2: true})
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			mount := filepath.Join(h.CgroupRoot, "memory")
			groups = append(groups, Group{Mount: mount, Dir: filepath.Join(mount, parts[2])})
		}
	}
	return groups
}

// ContainerLimit is the memory limit of the calling process's cgroup (the
// smallest on its path to the root), from cgroup v2 or v1; false when there
// is none.
func (h Host) ContainerLimit() (int64, bool) {
	best := int64(0)
	for _, g := range h.MemoryGroups() {
		// In a container the group's path is often "/" within its own
		// namespace, or a host path not mounted here: walk up to the
		// mount, reading what exists.
		for dir := g.Dir; strings.HasPrefix(dir, g.Mount); dir = filepath.Dir(dir) {
			if v, ok := readLimit(filepath.Join(dir, g.LimitFile())); ok && (best == 0 || v < best) {
				best = v
			}
			if dir == g.Mount {
				break
			}
		}
	}
	return best, best > 0
}

// readLimit reads a limit file: "max" (v2) and v1's page-rounded maximum
// mean none.
func readLimit(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= 1<<62 {
		return 0, false
	}
	return v, true
}

// Apply sets the runtime's soft memory limit to Ratio of the container's
// limit unless GOMEMLIMIT is set (to anything, "off" included). It returns
// the limit set and the container's, or false when it set none.
func Apply() (set, container int64, ok bool) {
	if _, given := os.LookupEnv("GOMEMLIMIT"); given {
		return 0, 0, false
	}
	container, ok = System.ContainerLimit()
	if !ok {
		return 0, 0, false
	}
	set = int64(float64(container) * Ratio)
	debug.SetMemoryLimit(set)
	return set, container, true
}
