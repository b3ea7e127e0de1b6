package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// ownModule is how `components` names this repository's components; the
// README's table says "this repository" instead.
const ownModule = "github.com/otelcol-release/otelcol-release"

// componentKinds are the sections of `otelcol-release components` that the
// README's component table covers (config providers are listed in prose).
var componentKinds = []string{"receiver", "processor", "exporter", "connector", "extension"}

// tableRow is one row of the README's component table:
// | kind | `type` | `module` or this repository | version |
var tableRow = regexp.MustCompile("^\\|\\s*(\\w+)\\s*\\|\\s*`([^`]+)`\\s*\\|\\s*(?:`([^`]+)`|(this repository))\\s*\\|\\s*(\\S+)\\s*\\|$")

// readmeComponents parses the table between the components markers of the
// README into "kind type module version" entries.
func readmeComponents(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e2etest.MustModuleRoot(t), "README.md"))
	require.NoError(t, err)
	text := string(raw)
	begin := strings.Index(text, "<!-- components:begin -->")
	end := strings.Index(text, "<!-- components:end -->")
	require.True(t, begin >= 0 && end > begin, "README.md has no <!-- components:begin --> ... <!-- components:end --> table")
	var entries []string
	for _, line := range strings.Split(text[begin:end], "\n")[1:] {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "| Kind") || strings.HasPrefix(line, "|---") {
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		require.NotNilf(t, m, "README component table: cannot parse row %q (want | kind | `type` | `module` or this repository | version |)", line)
		module := m[3]
		if m[4] != "" {
			module = ownModule
		}
		entries = append(entries, strings.Join([]string{m[1], m[2], module, m[5]}, " "))
	}
	sort.Strings(entries)
	return entries
}

// binaryComponents runs `otelcol-release components` and returns its
// components as "kind type module version" entries.
func binaryComponents(t *testing.T, bin string) []string {
	t.Helper()
	res := run(t, bin, "components")
	require.Equal(t, 0, res.ExitCode, res.Output)
	// buildinfo is a mapping, not a list: decode the lists only.
	var doc map[string]yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(res.Stdout), &doc))
	var entries []string
	for _, kind := range componentKinds {
		node, ok := doc[kind+"s"]
		require.Truef(t, ok, "components output has no %ss section:\n%s", kind, res.Stdout)
		var list []struct {
			Name   string `yaml:"name"`
			Module string `yaml:"module"`
		}
		require.NoError(t, node.Decode(&list))
		for _, c := range list {
			module, version, ok := strings.Cut(c.Module, " ")
			require.Truef(t, ok, "%s %s: module %q has no version", kind, c.Name, c.Module)
			entries = append(entries, strings.Join([]string{kind, c.Name, module, version}, " "))
		}
	}
	sort.Strings(entries)
	return entries
}

// TestComponentTableMatchesBinary keeps the README's component table and
// `otelcol-release components` in agreement: every component the binary
// carries is in the table at the same module and version, and the table
// lists nothing the binary lacks.
func TestComponentTableMatchesBinary(t *testing.T) {
	bin := e2etest.Binary(t)
	readme := readmeComponents(t)
	binary := binaryComponents(t, bin)
	require.NotEmpty(t, binary)
	inBinary := map[string]bool{}
	for _, e := range binary {
		inBinary[e] = true
	}
	inReadme := map[string]bool{}
	for _, e := range readme {
		inReadme[e] = true
	}
	for _, e := range binary {
		if !inReadme[e] {
			t.Errorf("in `otelcol-release components` but not in the README's component table: %s", e)
		}
	}
	for _, e := range readme {
		if !inBinary[e] {
			t.Errorf("in the README's component table but not in `otelcol-release components`: %s", e)
		}
	}
}
