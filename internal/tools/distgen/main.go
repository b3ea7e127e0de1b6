// Command distgen regenerates cmd/otelcol-release from builder-config.yaml:
// it runs the collector builder (ocb) to write the distribution's sources
// and then routes the generated main through newCommand, the hand-written
// wrapper that adds the embedded default config. `make generate` runs it;
// TestGeneratedDistributionIsCurrent runs it into a temporary directory and
// fails when the committed files differ.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

// generatedFiles are the files the builder writes; nothing else in the
// output directory is touched.
var generatedFiles = []string{"components.go", "main.go", "main_others.go", "main_windows.go"}

// hook is the one line of the builder's main.go template that is rewritten.
// If a builder upgrade changes it, generation fails loudly instead of
// silently dropping the default config.
const (
	hook        = "cmd := otelcol.NewCommand(params)"
	hookReplace = "cmd := newCommand(params)"
)

var outputPathLine = regexp.MustCompile(`(?m)^(\s*output_path:\s*).*$`)

func main() {
	config := flag.String("config", "builder-config.yaml", "builder configuration")
	out := flag.String("out", "", "output directory (default: dist.output_path of the config)")
	flag.Parse()
	if err := generate(*config, *out); err != nil {
		fmt.Fprintln(os.Stderr, "distgen:", err)
		os.Exit(1)
	}
}

func generate(configPath, out string) error {
	cfg, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	if !outputPathLine.Match(cfg) {
		return fmt.Errorf("%s has no dist.output_path", configPath)
	}
	if out == "" {
		out = string(outputPathLine.FindSubmatch(cfg)[0])
		out = string(bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace([]byte(out)), []byte("output_path:"))))
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "distgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tmpCfg := filepath.Join(tmp, "builder-config.yaml")
	rewritten := outputPathLine.ReplaceAll(cfg, []byte("${1}"+abs))
	if err := os.WriteFile(tmpCfg, rewritten, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "tool", "go.opentelemetry.io/collector/cmd/builder",
		"--config", tmpCfg, "--skip-get-modules", "--skip-compilation")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("builder failed: %w\n%s", err, logs.String())
	}
	mainPath := filepath.Join(abs, "main.go")
	src, err := os.ReadFile(mainPath)
	if err != nil {
		return err
	}
	if n := bytes.Count(src, []byte(hook)); n != 1 {
		return fmt.Errorf("expected the builder's main.go to contain %q once, found it %d times; update distgen for this builder version", hook, n)
	}
	src = bytes.Replace(src, []byte(hook), []byte(hookReplace), 1)
	if err := os.WriteFile(mainPath, src, 0o644); err != nil {
		return err
	}
	// The builder's output is not gofmt-clean; format it so the repository is.
	for _, name := range generatedFiles {
		path := filepath.Join(abs, name)
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		formatted, err := format.Source(raw)
		if err != nil {
			return fmt.Errorf("formatting %s: %w", name, err)
		}
		if err := os.WriteFile(path, formatted, 0o644); err != nil {
			return err
		}
	}
	return nil
}
