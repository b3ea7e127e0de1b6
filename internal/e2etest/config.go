package e2etest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"text/template"
)

// WriteFile writes content to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return path
}

// RenderConfig renders a text/template config (missing keys are an error)
// with data and writes it to dir under the template's base name.
func RenderConfig(t testing.TB, dir, templatePath string, data any) string {
	t.Helper()
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("reading config template: %v", err)
	}
	return WriteConfig(t, dir, filepath.Base(templatePath), string(raw), data)
}

// WriteConfig renders the text/template text with data into dir/name and
// returns the path.
func WriteConfig(t testing.TB, dir, name, text string, data any) string {
	t.Helper()
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatalf("parsing config template %s: %v", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("rendering config template %s: %v", name, err)
	}
	path := WriteFile(t, dir, name, b.Bytes())
	t.Logf("config %s:\n%s", path, b.String())
	return path
}
