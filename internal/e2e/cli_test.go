package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// run runs the binary to completion with args, away from the user's home.
func run(t *testing.T, bin string, args ...string) e2etest.Result {
	t.Helper()
	return runEnv(t, bin, nil, args...)
}

// runEnv is run with extra KEY=VALUE environment.
func runEnv(t *testing.T, bin string, env []string, args ...string) e2etest.Result {
	t.Helper()
	dir := t.TempDir()
	res := e2etest.Run(t, bin, e2etest.Options{Dir: dir, Env: append(isolatedEnv(dir), env...), Args: args}, 0)
	t.Logf("otelcol-release %s: exit %d\n%s", strings.Join(args, " "), res.ExitCode, res.Output)
	return res
}

// TestCLI checks the stock collector command line of the distribution.
func TestCLI(t *testing.T) {
	bin := e2etest.Binary(t)

	t.Run("validate the embedded default", func(t *testing.T) {
		res := run(t, bin, "validate")
		require.Equal(t, 0, res.ExitCode, res.Output)
		require.NotContains(t, res.Output, "Error")
	})

	t.Run("validate a config file", func(t *testing.T) {
		p := newPorts(t)
		cfg := e2etest.RenderConfig(t, t.TempDir(), testdataPath("persist.yaml"), p)
		res := run(t, bin, "validate", "--config", cfg)
		require.Equal(t, 0, res.ExitCode, res.Output)
		// and through the file: provider scheme
		res = run(t, bin, "validate", "--config", "file:"+cfg)
		require.Equal(t, 0, res.ExitCode, res.Output)
	})

	invalid := []struct{ file, problem string }{
		{"unknown_source.yaml", "receivers::releasemetadata: sources::jenkins: is not an event source; known sources: argocd, cdevents, flux, github, gitlab, native"},
		{"negative_skew.yaml", "receivers::releasemetadata: max_future_skew: must not be negative (got -5m0s)"},
		{"empty_endpoint.yaml", "receivers::releasemetadata: endpoint: must be set"},
		{"store_limits.yaml", "extensions::releasestore: dedupe_window: must be greater than zero (got 0s)"},
		{"undefined_receiver.yaml", `references receiver "otlp" which is not configured`},
		{"unknown_component.yaml", `unknown type: "loadbalancing"`},
		{"not_yaml.yaml", "found character that cannot start any token"},
	}
	for _, tt := range invalid {
		t.Run("validate invalid/"+tt.file, func(t *testing.T) {
			res := run(t, bin, "validate", "--config", testdataAbs(t, "invalid/"+tt.file))
			require.NotEqual(t, 0, res.ExitCode, "validate accepted invalid/%s:\n%s", tt.file, res.Output)
			require.Contains(t, res.Stderr, tt.problem)
		})
	}

	t.Run("validate a missing file", func(t *testing.T) {
		res := run(t, bin, "validate", "--config", filepath.Join(t.TempDir(), "nope.yaml"))
		require.NotEqual(t, 0, res.ExitCode)
		require.Contains(t, res.Stderr, "nope.yaml")
	})

	t.Run("components", func(t *testing.T) {
		res := run(t, bin, "components")
		require.Equal(t, 0, res.ExitCode, res.Output)
		retrieved, err := confmap.NewRetrievedFromYAML([]byte(res.Stdout))
		require.NoError(t, err)
		conf, err := retrieved.AsConf()
		require.NoError(t, err, "components prints YAML")
		all := conf.ToStringMap()
		require.Equal(t, "0.1.0", all["buildinfo"].(map[string]any)["version"])
		stability := func(kind, name string) map[string]any {
			list, _ := all[kind].([]any)
			for _, c := range list {
				if m := c.(map[string]any); m["name"] == name {
					return m["stability"].(map[string]any)
				}
			}
			t.Fatalf("components lists no %s %q:\n%s", kind, name, res.Stdout)
			return nil
		}
		assert.Equal(t, map[string]any{"logs": "Alpha", "metrics": "Undefined", "traces": "Undefined"}, stability("receivers", "releasemetadata"))
		assert.Equal(t, map[string]any{"extension": "Alpha"}, stability("extensions", "releasestore"))
		// The stock components users of otelcol expect.
		for kind, names := range map[string][]string{
			"receivers":  {"otlp"},
			"processors": {"batch", "memory_limiter"},
			"exporters":  {"debug", "nop", "otlp_grpc", "otlp_http"},
			"extensions": {"file_storage", "health_check", "pprof", "zpages", "bearertokenauth"},
			"connectors": {"forward"},
		} {
			for _, name := range names {
				stability(kind, name)
			}
		}
		var schemes []string
		for _, p := range all["providers"].([]any) {
			schemes = append(schemes, p.(map[string]any)["scheme"].(string))
		}
		assert.Subset(t, schemes, []string{"env", "file", "http", "https", "yaml"})
	})

	t.Run("--version", func(t *testing.T) {
		res := run(t, bin, "--version")
		require.Equal(t, 0, res.ExitCode, res.Output)
		require.Equal(t, "otelcol-release version 0.1.0", strings.TrimSpace(res.Stdout))
	})

	t.Run("replay resolves --config as the collector does", func(t *testing.T) {
		recording := filepath.Join(e2etest.MustModuleRoot(t), "cmd", "otelcol-release", "testdata", "replay")
		cfg := filepath.Join(t.TempDir(), "replay.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte(`
processors:
  releasecorrelation: {}
  releasecorrelation/edge:
    detection: {min_samples: "${env:E2E_REPLAY_MIN_SAMPLES}", hold_after: 30s}
`), 0o600))
		args := []string{"replay", "--telemetry", filepath.Join(recording, "traces.jsonl.gz"),
			"--events", filepath.Join(recording, "events.jsonl"), "--config", cfg}
		env := []string{"E2E_REPLAY_MIN_SAMPLES=100000"}
		res := runEnv(t, bin, env, args...)
		require.NotEqual(t, 0, res.ExitCode, res.Output)
		require.Contains(t, res.Output, "has 2 releasecorrelation processors (releasecorrelation, releasecorrelation/edge): choose one with --processor")
		// min_samples from the environment: too few samples ever, so hold.
		res = runEnv(t, bin, env, append(args, "--processor", "releasecorrelation/edge")...)
		require.Equal(t, 0, res.ExitCode, res.Output)
		assert.Contains(t, res.Stdout, " hold ")
		assert.NotContains(t, res.Stdout, "rollback")
		res = runEnv(t, bin, env, append(args, "--processor", "releasecorrelation")...)
		require.Equal(t, 0, res.ExitCode, res.Output)
		assert.Contains(t, res.Stdout, "rollback")
	})

	t.Run("--feature-gates", func(t *testing.T) {
		res := run(t, bin, "validate", "--feature-gates=-pdata.useProtoPooling,+service.AllowNoPipelines")
		require.Equal(t, 0, res.ExitCode, res.Output)
		res = run(t, bin, "--feature-gates=-pdata.useProtoPooling", "validate")
		require.Equal(t, 0, res.ExitCode, res.Output)
		// The flag is really parsed: an unknown gate is refused by name.
		res = run(t, bin, "validate", "--feature-gates=no.such.gate")
		require.NotEqual(t, 0, res.ExitCode, res.Output)
		require.Contains(t, res.Stderr, `no such feature gate "no.such.gate"`)
	})
}

// testdataAbs is the absolute path of a file under internal/e2e/testdata.
func testdataAbs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(testdataPath(name))
	require.NoError(t, err)
	_, err = os.Stat(p)
	require.NoError(t, err)
	return p
}

// envRef matches a ${env:NAME} reference without a default.
var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// exampleEnv gives every variable an example config needs a plausible
// value, as a user deploying it would: endpoints get an https URL,
// OTELCOL_RELEASE_DATA_DIR a directory, everything else (tokens, secrets)
// a placeholder.
func exampleEnv(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var env []string
	seen := map[string]bool{}
	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		host := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		switch {
		case name == "OTELCOL_RELEASE_DATA_DIR":
			env = append(env, name+"="+t.TempDir())
		case strings.HasSuffix(name, "_ENDPOINT"):
			env = append(env, name+"=https://"+host+".example.invalid:4317")
		default:
			env = append(env, name+"=e2e-"+host)
		}
	}
	t.Logf("environment for %s: %v", filepath.Base(file), env)
	return env
}

// TestExampleConfigs validates every example config under docs/examples
// with `otelcol-release validate`.
func TestExampleConfigs(t *testing.T) {
	bin := e2etest.Binary(t)
	dir := filepath.Join(e2etest.MustModuleRoot(t), "docs", "examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Fatalf("no example configs (*.yaml) in %s: the agent and gateway examples belong there", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := runEnv(t, bin, exampleEnv(t, f), "validate", "--config", f)
			require.Equalf(t, 0, res.ExitCode, "otelcol-release validate --config %s:\n%s", f, res.Output)
		})
	}
}
