package memlimit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fakeHost(t *testing.T, procSelf string, files map[string]string) Host {
	t.Helper()
	root := t.TempDir()
	h := Host{ProcSelfCgroup: filepath.Join(root, "proc-self-cgroup"), CgroupRoot: filepath.Join(root, "cgroup")}
	require.NoError(t, os.WriteFile(h.ProcSelfCgroup, []byte(procSelf), 0o600))
	for name, content := range files {
		p := filepath.Join(h.CgroupRoot, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
	}
	return h
}

func TestContainerLimit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		procSelf string
		files    map[string]string
		want     int64
	}{
		{"v2 container, own namespace", "0::/\n", map[string]string{"memory.max": "268435456"}, 256 << 20},
		{"v2 unlimited", "0::/\n", map[string]string{"memory.max": "max"}, 0},
		{"v2 nested: the smaller of the group and its parent", "0::/pod/app\n",
			map[string]string{"pod/memory.max": "536870912", "pod/app/memory.max": "max"}, 512 << 20},
		{"v1 memory controller", "5:cpu,cpuacct:/\n4:memory:/kubepods/pod1\n",
			map[string]string{"memory/kubepods/pod1/memory.limit_in_bytes": "268435456", "memory/memory.limit_in_bytes": "9223372036854771712"}, 256 << 20},
		{"v1 unlimited (page-rounded maximum)", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712"}, 0},
		{"host path not mounted here: the mount's own limit", "0::/system.slice/x.scope\n", map[string]string{"memory.max": "1073741824"}, 1 << 30},
		{"no cgroup files", "0::/\n", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fakeHost(t, tt.procSelf, tt.files).ContainerLimit()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want > 0, ok)
		})
	}
}

func TestApplyLeavesAGivenGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "off")
	_, _, ok := Apply()
	assert.False(t, ok)
}
