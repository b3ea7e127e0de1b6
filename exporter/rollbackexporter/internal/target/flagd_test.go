package target

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// flagdFile copies testdata/flags/flags.json into a fresh directory with
// mode 0640 and returns its path.
func flagdFile(t *testing.T) string {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join("testdata", "flags", "flags.json"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(path, orig, 0o600))
	require.NoError(t, os.Chmod(path, 0o640))
	return path
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "flags", name))
	require.NoError(t, err)
	return b
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func flagdTarget(t *testing.T, path string, flags ...string) Target {
	return flagTarget(t, "flagd", func(c *FlagdConfig) { c.Path, c.Flags = path, flags })
}

func TestFlagdRewritesTheFileAtomically(t *testing.T) {
	path := flagdFile(t)
	before, err := os.Stat(path)
	require.NoError(t, err)
	rec := &Recorder{}
	// new-pricing comes from the release; kill-checkout has no state yet,
	// empty has no fields at all, legacy-cart is off already.
	tg := flagdTarget(t, path, "kill-checkout", "legacy-cart", "empty")
	summary, err := tg.Act(WithRecorder(context.Background(), rec), testEnv(false), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "set new-pricing, kill-checkout, legacy-cart, empty DISABLED in "+path, summary)

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(golden(t, "flags.disabled.json")), string(got),
		"only the states changed: every other byte (order, spacing, other flags, unknown fields) is as it was")
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.False(t, os.SameFile(before, after), "the file was replaced by a rename, not written in place")
	assert.Equal(t, os.FileMode(0o640), after.Mode().Perm(), "the mode is kept")
	assert.Equal(t, []string{"flags.json"}, dirNames(t, filepath.Dir(path)), "no temporary file is left behind")

	require.Len(t, rec.Requests, 1)
	assert.Equal(t, release.RecordedRequest{Method: "WRITE", URL: "file://" + path, Body: string(got), Response: "replaced"}, rec.Requests[0])

	// Again: nothing to change, the file is left alone.
	_, err = tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	again, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, os.SameFile(after, again))
}

func TestFlagdDryRunLeavesTheFileAlone(t *testing.T) {
	path := flagdFile(t)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	rec := &Recorder{}
	summary, err := flagdTarget(t, path, "kill-checkout", "empty").Act(WithRecorder(context.Background(), rec), testEnv(true), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "would set new-pricing, kill-checkout, empty DISABLED in "+path+" (dry run)", summary)
	now, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, orig, now, "byte-identical")
	assert.Equal(t, []string{"flags.json"}, dirNames(t, filepath.Dir(path)))
	require.Len(t, rec.Requests, 1)
	assert.Equal(t, "WRITE", rec.Requests[0].Method)
	assert.Equal(t, "file://"+path, rec.Requests[0].URL)
	assert.Equal(t, string(golden(t, "flags.disabled.json")), rec.Requests[0].Body, "what would have been written")
}

func TestFlagdErrors(t *testing.T) {
	path := flagdFile(t)
	orig, _ := os.ReadFile(path)

	_, err := flagdTarget(t, path, "nope").Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "no flag nope in it")
	now, _ := os.ReadFile(path)
	assert.Equal(t, orig, now, "nothing is written when a flag is missing")

	_, err = flagdTarget(t, filepath.Join(t.TempDir(), "missing.json")).Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))

	for doc, msg := range map[string]string{
		`flags:\n  a: {}`:                  "not valid JSON",
		`[]`:                               "not a JSON object",
		`{"flag": {}}`:                     `no "flags" object`,
		`{"flags": []}`:                    `"flags" is not an object`,
		`{"flags": {"new-pricing": true}}`: "flag new-pricing is not an object",
		`{"flags": {"new-pricing": {"state": 1}}}`: "flag new-pricing: state is not a string",
	} {
		p := filepath.Join(t.TempDir(), "f.json")
		require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
		_, err := flagdTarget(t, p).Act(context.Background(), testEnv(false), flagOffAction())
		require.Error(t, err, doc)
		assert.True(t, errors.Is(err, ErrPermanent), doc)
		assert.Contains(t, err.Error(), msg, doc)
	}

	_, err = flagdTarget(t, path).Act(context.Background(), testEnv(false), Action{Decision: flagOffAction().Decision})
	assert.EqualError(t, err, "permanent: no feature flags to turn off: the release names none and the target lists none")
	assert.EqualError(t, (&FlagdConfig{}).Validate(), "path: required")
}

func TestFlagdFollowsSymlinksAndSerialises(t *testing.T) {
	// Like a ConfigMap volume: the configured path is a link to the file.
	resolved := flagdFile(t)
	link := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.Symlink(resolved, link))
	var wg sync.WaitGroup
	for _, flag := range []string{"banner", "kill-checkout", "empty"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := flagdTarget(t, link, flag).Act(context.Background(), testEnv(false), flagOffAction())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode()&os.ModeSymlink, "the link stays a link")
	got, err := os.ReadFile(resolved)
	require.NoError(t, err)
	var doc struct {
		Flags map[string]struct {
			State string `json:"state"`
		} `json:"flags"`
	}
	require.NoError(t, jsonUnmarshal(got, &doc))
	for _, flag := range []string{"banner", "new-pricing", "kill-checkout", "empty", "legacy-cart"} {
		assert.Equal(t, "DISABLED", doc.Flags[flag].State, "concurrent rewrites do not lose %s", flag)
	}
}

func TestDisableFlagdFlagsKeepsEverythingElse(t *testing.T) {
	doc := []byte("{\"flags\":{\"a\":{\"state\":\"ENABLED\",\"variants\":{\"x\":\"{\\\"state\\\":\\\"ENABLED\\\"}\"}},\"b\":{\"state\":\"ENABLED\"}}}\n")
	out, changed, err := DisableFlagdFlags(doc, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, changed)
	assert.Equal(t, "{\"flags\":{\"a\":{\"state\":\"DISABLED\",\"variants\":{\"x\":\"{\\\"state\\\":\\\"ENABLED\\\"}\"}},\"b\":{\"state\":\"ENABLED\"}}}\n", string(out))
}
