package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "flagd",
		Actions:   []release.Action{release.ActionFlagOff},
		NewConfig: func() any { return &FlagdConfig{} },
		New:       func(cfg any) (Target, error) { return &flagd{cfg: cfg.(*FlagdConfig)}, nil },
	})
}

// FlagdConfig configures the flagd target. flagd has no write API: the
// target rewrites the JSON flag file flagd syncs from (its --uri
// file:...), atomically, with the release's flags' state DISABLED.
type FlagdConfig struct {
	// Path is the flag file; a template. A symbolic link is followed, and
	// the file it points to is replaced.
	Path string `mapstructure:"path"`
	// Flags are turned off besides the release's own feature flags;
	// templates.
	Flags []string `mapstructure:"flags"`
}

// Validate checks the configuration.
func (c *FlagdConfig) Validate() error {
	if strings.TrimSpace(c.Path) == "" {
		return errors.New("path: required")
	}
	return nil
}

type flagd struct{ cfg *FlagdConfig }

// flagdFileLocks serialises rewrites of one file within the process, so
// two actions on the same file do not lose each other's change.
var flagdFileLocks sync.Map // path -> *sync.Mutex

func (f *flagd) Act(ctx context.Context, env Env, a Action) (string, error) {
	flags, err := flagKeys(f.cfg.Flags, a)
	if err != nil {
		return "", err
	}
	path := Expand(f.cfg.Path, a)
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	mu, _ := flagdFileLocks.LoadOrStore(path, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	info, err := os.Stat(path)
	if err != nil {
		return "", flagdFileError("reading the flag file", err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return "", flagdFileError("reading the flag file", err)
	}
	updated, changed, err := DisableFlagdFlags(old, flags)
	if err != nil {
		return "", Permanent("flag file %s: %v", path, err)
	}
	rec := release.RecordedRequest{Method: "WRITE", URL: "file://" + filepath.ToSlash(path),
		Body: string(updated[:min(len(updated), maxRecordedBody)])}
	summary := "set " + strings.Join(flags, ", ") + " DISABLED in " + path
	switch {
	case len(changed) == 0:
		summary = strings.Join(flags, ", ") + " already DISABLED in " + path + "; left the file as it was"
	case env.DryRun:
		summary = "would set " + strings.Join(changed, ", ") + " DISABLED in " + path + " (dry run)"
	default:
		if err := flagdReplaceFile(path, updated, info.Mode()); err != nil {
			return "", err
		}
		rec.Response = "replaced"
	}
	if r := recorderFrom(ctx); r != nil && len(changed) > 0 {
		r.add(rec)
	}
	return summary, nil
}

// flagdFileError classes a file system error: a missing file or a refused
// permission will not mend by itself; anything else may.
func flagdFileError(what string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return Permanent("%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// flagdReplaceFile writes data to a temporary file beside path, with path's
// mode, syncs it and renames it over path, so readers (flagd's file
// watcher) see the old file or the new one, never a part.
func flagdReplaceFile(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return flagdFileError("writing the flag file", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return flagdFileError("writing the flag file", err)
	}
	if err = tmp.Chmod(mode.Perm()); err != nil {
		return flagdFileError("writing the flag file", err)
	}
	if err = tmp.Sync(); err != nil {
		return flagdFileError("writing the flag file", err)
	}
	if err = tmp.Close(); err != nil {
		return flagdFileError("writing the flag file", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return flagdFileError("replacing the flag file", err)
	}
	// Make the rename itself durable; not every system can sync a
	// directory, and the file is in place either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// DisableFlagdFlags returns a flagd flag document with each named flag's
// "state" set to "DISABLED". Every other byte stays as it was: key order,
// formatting, other flags, $evaluators, metadata and fields this code does
// not know. It returns the flags whose state changed; a flag missing from
// the document is an error naming it.
func DisableFlagdFlags(doc []byte, keys []string) ([]byte, []string, error) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	spans, err := scanFlagdStates(doc, want)
	if err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, k := range keys {
		if _, ok := spans[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("no flag %s in it", strings.Join(missing, ", "))
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var changed []string
	for _, k := range keys {
		s := spans[k]
		switch {
		case s.stateStart >= 0:
			var state string
			if err := json.Unmarshal(doc[s.stateStart:s.stateEnd], &state); err != nil {
				return nil, nil, fmt.Errorf("flag %s: state is not a string", k)
			}
			if state == "DISABLED" {
				continue
			}
			edits = append(edits, edit{s.stateStart, s.stateEnd, `"DISABLED"`})
		case s.empty:
			edits = append(edits, edit{s.objStart, s.objStart, `"state":"DISABLED"`})
		default:
			edits = append(edits, edit{s.objStart, s.objStart, `"state":"DISABLED",`})
		}
		changed = append(changed, k)
	}
	if len(edits) == 0 {
		return doc, nil, nil
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := append([]byte(nil), doc...)
	for _, e := range edits {
		out = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	if !json.Valid(out) {
		return nil, nil, errors.New("rewriting it gave invalid JSON")
	}
	return out, changed, nil
}

// flagdSpan locates one flag in the document.
type flagdSpan struct {
	// objStart is just after the flag object's "{"; empty says the object
	// has no members.
	objStart int
	empty    bool
	// stateStart and stateEnd bound the state's value (-1 without one).
	stateStart, stateEnd int
}

// scanFlagdStates walks the document's tokens and returns where each
// wanted flag, and its state value, are.
func scanFlagdStates(doc []byte, want map[string]bool) (map[string]flagdSpan, error) {
	if !json.Valid(doc) {
		return nil, errors.New("not valid JSON (only JSON flag files can be rewritten)")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := flagdDelim(dec, '{'); err != nil {
		return nil, errors.New(`not a flagd flag document: it is not a JSON object`)
	}
	spans := map[string]flagdSpan{}
	sawFlags := false
	for dec.More() {
		key, err := flagdKey(dec)
		if err != nil {
			return nil, err
		}
		if key != "flags" {
			if err := flagdSkip(dec); err != nil {
				return nil, err
			}
			continue
		}
		sawFlags = true
		if err := flagdDelim(dec, '{'); err != nil {
			return nil, errors.New(`"flags" is not an object`)
		}
		for dec.More() {
			flag, err := flagdKey(dec)
			if err != nil {
				return nil, err
			}
			if !want[flag] {
				if err := flagdSkip(dec); err != nil {
					return nil, err
				}
				continue
			}
			if err := flagdDelim(dec, '{'); err != nil {
				return nil, fmt.Errorf("flag %s is not an object", flag)
			}
			span := flagdSpan{objStart: int(dec.InputOffset()), empty: !dec.More(), stateStart: -1, stateEnd: -1}
			for dec.More() {
				field, err := flagdKey(dec)
				if err != nil {
					return nil, err
				}
				if field != "state" {
					if err := flagdSkip(dec); err != nil {
						return nil, err
					}
					continue
				}
				start := flagdValueStart(doc, int(dec.InputOffset()))
				if err := flagdSkip(dec); err != nil {
					return nil, err
				}
				span.stateStart, span.stateEnd = start, int(dec.InputOffset())
			}
			if err := flagdDelim(dec, '}'); err != nil {
				return nil, err
			}
			spans[flag] = span
		}
		if err := flagdDelim(dec, '}'); err != nil {
			return nil, err
		}
	}
	if !sawFlags {
		return nil, errors.New(`not a flagd flag document: no "flags" object`)
	}
	return spans, nil
}

// flagdValueStart skips the white space and the colon after an object key.
func flagdValueStart(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r' || doc[i] == ':') {
		i++
	}
	return i
}

func flagdKey(dec *json.Decoder) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("expected an object key, found %v", t)
	}
	return k, nil
}

func flagdDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := t.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q, found %v", d, t)
	}
	return nil
}

// flagdSkip reads one whole value, whatever its kind.
func flagdSkip(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
