// Package e2etest is a small harness for end-to-end tests that drive the real
// otelcol-release binary as a user would: locate or build the binary, start
// it with arguments and environment in a temporary working directory, wait
// until it answers, stop it gracefully or with kill -9, and collect what its
// pipelines export through an OTLP/HTTP sink.
//
// Tests using it are skipped under `go test -short` and run otherwise.
package e2etest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// BinaryEnv names the environment variable that points at a prebuilt
// binary; when it is unset, Binary builds one per test process.
const BinaryEnv = "OTELCOL_RELEASE_BINARY"

// BuildTimeout bounds `go build` of the distribution. The first build on a
// cold cache compiles the whole collector and takes minutes on 2 cores.
var BuildTimeout = 20 * time.Minute

var build struct {
	once sync.Once
	dir  string
	path string
	took time.Duration
	err  error
}

// SkipIfShort skips an end-to-end test under `go test -short`.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and starts the otelcol-release binary; skipped under -short")
	}
}

// Binary returns the path of the otelcol-release binary under test: $OTELCOL_RELEASE_BINARY
// when set, else a binary built once per test process from the module's
// ./cmd/otelcol-release. It skips the test under -short and fails it when
// the binary cannot be found or built.
func Binary(t testing.TB) string {
	t.Helper()
	SkipIfShort(t)
	if p := os.Getenv(BinaryEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("%s=%q: %v", BinaryEnv, p, err)
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			t.Fatalf("%s=%q does not name a binary: %v", BinaryEnv, p, err)
		}
		return abs
	}
	build.once.Do(func() {
		start := time.Now()
		build.path, build.err = buildBinary()
		build.took = time.Since(start)
		if build.err == nil {
			t.Logf("built %s in %s (set %s to use a prebuilt binary)", build.path, build.took.Round(time.Millisecond), BinaryEnv)
		}
	})
	if build.err != nil {
		t.Fatalf("building otelcol-release: %v", build.err)
	}
	return build.path
}

// BuildDuration reports how long Binary spent building (zero when a
// prebuilt binary was used or nothing was built yet).
func BuildDuration() time.Duration { return build.took }

func buildBinary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "otelcol-release-e2e-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	out := filepath.Join(dir, "otelcol-release")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go tool is not on PATH (set %s to a prebuilt binary instead): %w", BinaryEnv, err)
	}
	cmd := exec.Command(goTool, "build", "-o", out, "./cmd/otelcol-release")
	cmd.Dir = root
	cmd.Env = os.Environ()
	done := make(chan struct{})
	var output []byte
	go func() {
		output, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(BuildTimeout):
		_ = cmd.Process.Kill()
		<-done
		return "", fmt.Errorf("go build did not finish within %s:\n%s", BuildTimeout, output)
	}
	if err != nil {
		return "", fmt.Errorf("go build -o %s ./cmd/otelcol-release (in %s): %w\n%s", out, root, err, output)
	}
	return out, nil
}

// Cleanup removes the binary Binary built, if any. Call it after m.Run in
// TestMain (Main does).
func Cleanup() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// Main runs the tests, fails them when they leave goroutines behind, and
// removes the built binary afterwards. Use it as
//
//	func TestMain(m *testing.M) { e2etest.Main(m) }
func Main(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		Cleanup()
		os.Exit(code)
	}))
}

// ModuleRoot finds the directory holding go.mod by walking up from the
// working directory (a test's working directory is its package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// MustModuleRoot is ModuleRoot that fails the test on error.
func MustModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
