package testhost

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otelcol-release/otelcol-release/internal/memlimit"
)

// MemoryCgroup is a memory cgroup with a hard limit, made for one test: a
// process placed in it is held to the limit as a container's is (the
// kernel reclaims the group's file pages under pressure, and kills the
// process when its own memory does not fit).
type MemoryCgroup struct {
	dir string
	v2  bool
}

// NewMemoryCgroup creates a memory cgroup below the test's own, limited to
// limit bytes without swap, and removes it when the test ends. It returns
// nil and the reason when this host gives no writable memory controller
// (cgroup v1 at /sys/fs/cgroup/memory, or v2 with the memory controller).
func NewMemoryCgroup(t testing.TB, limit int64) (*MemoryCgroup, string) {
	t.Helper()
	parent, v2, why := ownMemoryCgroup()
	if parent == "" {
		return nil, why
	}
	dir := filepath.Join(parent, fmt.Sprintf("otelcol-release-test-%d", time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Sprintf("creating a memory cgroup: %v", err)
	}
	cg := &MemoryCgroup{dir: dir, v2: v2}
	t.Cleanup(func() {
		// The group's processes have exited by now (their cleanups were
		// registered later, so ran first); rmdir fails until the kernel
		// has let go of them.
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("memory cgroup %s left behind", dir)
	})
	limitStr := strconv.FormatInt(limit, 10)
	var err error
	if v2 {
		err = cg.write("memory.max", limitStr)
		if err == nil {
			err = cg.write("memory.swap.max", "0")
			if os.IsNotExist(err) {
				err = nil
			}
		}
	} else {
		err = cg.write("memory.limit_in_bytes", limitStr)
		if err == nil {
			// Without swap accounting the file is absent and there is
			// nothing to swap to beyond what the host allows.
			if werr := cg.write("memory.memsw.limit_in_bytes", limitStr); werr != nil && !os.IsNotExist(werr) {
				err = werr
			}
		}
	}
	if err != nil {
		return nil, fmt.Sprintf("setting the memory cgroup's limit: %v", err)
	}
	return cg, ""
}

// ownMemoryCgroup finds the directory of the calling process's memory
// cgroup, where a child group may be created: v1's, else v2's with the
// memory controller enabled for children.
func ownMemoryCgroup() (dir string, v2 bool, why string) {
	groups := memlimit.System.MemoryGroups()
	for _, g := range groups {
		if _, err := os.Stat(filepath.Join(g.Dir, g.LimitFile())); !g.V2 && err == nil {
			return g.Dir, false, ""
		}
	}
	for _, g := range groups {
		if !g.V2 {
			continue
		}
		ctl, err := os.ReadFile(filepath.Join(g.Dir, "cgroup.subtree_control"))
		if err != nil {
			continue
		}
		if !bytes.Contains(ctl, []byte("memory")) {
			// Enabling the controller for children is refused when the
			// group itself holds processes; try, and report.
			if err := os.WriteFile(filepath.Join(g.Dir, "cgroup.subtree_control"), []byte("+memory"), 0o644); err != nil {
				continue
			}
		}
		return g.Dir, true, ""
	}
	return "", false, "no writable memory cgroup controller on this host"
}

func (c *MemoryCgroup) write(file, value string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0o644)
}

func (c *MemoryCgroup) readInt(file string) (int64, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// keyed reads a file of "key value" lines.
func (c *MemoryCgroup) keyed(file string) (map[string]int64, error) {
	f, err := os.Open(filepath.Join(c.dir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// Dir is the group's directory.
func (c *MemoryCgroup) Dir() string { return c.dir }

// ProcsFile is the file a process writes its pid to, to join the group.
func (c *MemoryCgroup) ProcsFile() string { return filepath.Join(c.dir, "cgroup.procs") }

// Peak is the most memory the kernel ever charged to the group: what a
// container's limit is compared with.
func (c *MemoryCgroup) Peak() (int64, error) {
	if c.v2 {
		return c.readInt("memory.peak")
	}
	return c.readInt("memory.max_usage_in_bytes")
}

// OOMKills counts the processes the kernel killed for the group's limit.
func (c *MemoryCgroup) OOMKills() (int64, error) {
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	m, err := c.keyed(file)
	if err != nil {
		return 0, err
	}
	n, ok := m["oom_kill"]
	if !ok {
		return 0, fmt.Errorf("%s has no oom_kill count", file)
	}
	return n, nil
}

// Usage splits what is charged to the group now into the processes' own
// memory (anonymous) and file pages (page cache of the files they read and
// wrote, which the kernel reclaims under the limit).
func (c *MemoryCgroup) Usage() (anon, file int64, err error) {
	m, err := c.keyed("memory.stat")
	if err != nil {
		return 0, 0, err
	}
	if c.v2 {
		return m["anon"], m["file"], nil
	}
	return m["rss"], m["cache"], nil
}

// DropFromPageCache asks the kernel to drop a file's cached pages (those no
// running process maps), so that a process started next reads them afresh
// and they are charged to its memory cgroup, as on a node that has not run
// the binary before.
func DropFromPageCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
