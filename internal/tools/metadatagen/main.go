// Command metadatagen regenerates what mdatagen derives from each
// component's metadata.yaml: internal/metadata (status and telemetry
// builder), internal/metadatatest, documentation.md, the generated
// lifecycle and goleak tests, and the status table in README.md.
// `make generate` runs it from the module root; TestGeneratedMetadataIsCurrent
// runs it into a temporary directory and fails when the committed files
// differ.
//
// mdatagen comes from the module in internal/tools/mdatagen (see its
// go.mod for why it is a module of its own).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// modulePath is the distribution's module; component import paths, and so
// the telemetry scope names mdatagen derives from them, start with it.
const modulePath = "github.com/otelcol-release/otelcol-release"

// toolDir holds the go.mod that pins mdatagen.
const toolDir = "internal/tools/mdatagen"

// componentGlobs find the components that have a metadata.yaml.
var componentGlobs = []string{"receiver/*/metadata.yaml", "processor/*/metadata.yaml", "exporter/*/metadata.yaml", "extension/*/metadata.yaml"}

func main() {
	out := flag.String("out", "", "write into this directory (one subdirectory per component) instead of the components' own")
	flag.Parse()
	if err := generate(".", *out); err != nil {
		fmt.Fprintln(os.Stderr, "metadatagen:", err)
		os.Exit(1)
	}
}

// components returns the directories, relative to root, of the components
// that have a metadata.yaml.
func components(root string) ([]string, error) {
	var dirs []string
	for _, g := range componentGlobs {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return nil, err
		}
		for _, p := range m {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return nil, err
			}
			dirs = append(dirs, rel)
		}
	}
	slices.Sort(dirs)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no metadata.yaml under %s", root)
	}
	return dirs, nil
}

// generate runs mdatagen on every component under root. With out set, each
// component's metadata.yaml and README.md are copied to out/<component dir>
// first and mdatagen writes there, leaving root untouched.
func generate(root, out string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	dirs, err := components(root)
	if err != nil {
		return err
	}
	if out != "" {
		if out, err = filepath.Abs(out); err != nil {
			return err
		}
		if err := stageModule(out); err != nil {
			return err
		}
	}
	for _, dir := range dirs {
		target := filepath.Join(root, dir)
		if out != "" {
			target = filepath.Join(out, dir)
			if err := stageComponent(filepath.Join(root, dir), target); err != nil {
				return err
			}
		}
		if err := runMdatagen(root, filepath.Join(target, "metadata.yaml")); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if err := linkDistribution(filepath.Join(target, "README.md")); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	return nil
}

// distributionLink is where the status table's distribution points:
// mdatagen only knows the upstream distributions' addresses and leaves
// ours empty, which renders as stray text.
const distributionLink = "[otelcol-release]: ../../README.md"

func linkDistribution(readme string) error {
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	fixed := bytes.Replace(b, []byte("[otelcol-release]: \n"), []byte(distributionLink+"\n"), 1)
	if bytes.Equal(fixed, b) {
		return nil
	}
	return os.WriteFile(readme, fixed, 0o644)
}

func runMdatagen(root, metadataPath string) error {
	cmd := exec.Command("go", "-C", filepath.Join(root, toolDir), "tool", "mdatagen", metadataPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mdatagen failed: %w\n%s", err, logs.String())
	}
	return nil
}

// stageModule makes out the root of a module with the distribution's path:
// mdatagen asks `go list` for the component's import path, from which it
// derives the telemetry scope name.
func stageModule(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "go.mod"), []byte("module "+modulePath+"\n\ngo 1.26\n"), 0o644)
}

// stageFiles are the hand-written inputs mdatagen reads from a component.
var stageFiles = []string{"metadata.yaml", "README.md"}

// stagePlaceholder makes the staged directory a Go package for `go list`.
const stagePlaceholder = "staged.go"

func stageComponent(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, name := range stageFiles {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o644); err != nil {
			return err
		}
	}
	pkg := "package " + filepath.Base(from) + "\n"
	return os.WriteFile(filepath.Join(to, stagePlaceholder), []byte(pkg), 0o644)
}

// generatedFile tells the files mdatagen owns in a component directory.
func generatedFile(rel string) bool {
	topLevel := !strings.ContainsRune(rel, filepath.Separator)
	return topLevel && (strings.HasPrefix(rel, "generated_") || rel == "documentation.md") ||
		strings.HasPrefix(rel, filepath.Join("internal", "metadata")+string(filepath.Separator)) ||
		strings.HasPrefix(rel, filepath.Join("internal", "metadatatest")+string(filepath.Separator))
}

// diff compares the components under root with a generation into out and
// returns one line per file that differs, is missing or is stale.
func diff(root, out string) ([]string, error) {
	dirs, err := components(root)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, dir := range dirs {
		want := map[string]bool{}
		err := filepath.WalkDir(filepath.Join(out, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(filepath.Join(out, dir), p)
			if err != nil {
				return err
			}
			if rel == stagePlaceholder || rel == "metadata.yaml" {
				return nil
			}
			want[rel] = true
			generated, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			committed, err := os.ReadFile(filepath.Join(root, dir, rel))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				problems = append(problems, filepath.Join(dir, rel)+" is missing")
			case err != nil:
				return err
			case !bytes.Equal(generated, committed):
				problems = append(problems, filepath.Join(dir, rel)+" differs")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		err = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(filepath.Join(root, dir), p)
			if err != nil {
				return err
			}
			if generatedFile(rel) && !want[rel] {
				problems = append(problems, filepath.Join(dir, rel)+" is no longer generated")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return problems, nil
}
