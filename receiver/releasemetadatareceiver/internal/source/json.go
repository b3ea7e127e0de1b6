package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// JSON helpers shared by the vendor sources (github, gitlab, cdevents, argocd,
// flux). They decode lazily so that an error names the member's path.

// jsonObject is a JSON object whose members are decoded on demand. A nil
// jsonObject behaves as an empty one.
type jsonObject map[string]json.RawMessage

// joinPath appends key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldOrBody names a document: path, or "body" for the top level.
func fieldOrBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decodeObject decodes raw as a JSON object; path names it in errors ("" is
// the body).
func decodeObject(raw []byte, path string) (jsonObject, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, release.Fieldf(fieldOrBody(path), release.RuleRequired, "is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, release.Fieldf(fieldOrBody(path), release.RuleSyntax, "is not valid JSON")
		}
		return nil, release.Fieldf(fieldOrBody(path), release.RuleType, "must be a JSON object")
	}
	var o jsonObject
	if err := json.Unmarshal(trimmed, &o); err != nil {
		return nil, jsonFieldError(path, err)
	}
	if o == nil {
		o = jsonObject{}
	}
	return o, nil
}

// object returns member key as an object; nil when absent or null.
func (o jsonObject) object(key, path string) (jsonObject, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	return decodeObject(raw, joinPath(path, key))
}

// str returns member key as a string; "" when absent or null.
func (o jsonObject) str(key, path string) (string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", release.Fieldf(joinPath(path, key), release.RuleType, "must be a string")
	}
	return s, nil
}

// scalar returns member key, a string, number or boolean, as a string; ""
// when absent or null.
func (o jsonObject) scalar(key, path string) (string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	s, err := scalarString(raw)
	if err != nil {
		return "", release.Fieldf(joinPath(path, key), release.RuleType, "must be a string, number or boolean")
	}
	return s, nil
}

// firstScalar returns the first non-empty scalar among keys.
func (o jsonObject) firstScalar(path string, keys ...string) (string, error) {
	for _, k := range keys {
		s, err := o.scalar(k, path)
		if err != nil {
			return "", err
		}
		if s = strings.TrimSpace(s); s != "" {
			return s, nil
		}
	}
	return "", nil
}

// scalarString renders a JSON string, number or boolean as a string.
func scalarString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", err
		}
		if b {
			return "true", nil
		}
		return "false", nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// stringMap decodes member key, an object of scalars, as a string map.
func (o jsonObject) stringMap(key, path string) (map[string]string, error) {
	m, err := o.object(key, path)
	if err != nil || m == nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k := range m {
		v, err := m.scalar(k, joinPath(path, key))
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// releaseContextFields are the members of a release context object, matched
// exactly (encoding/json alone would match them case-insensitively).
var releaseContextFields = map[string]bool{
	"previous_version": true, "strategy": true, "rollout_percentage": true, "feature_flags": true,
	"intent": true, "risk": true, "owner": true, "scope": true,
}

// decodeReleaseContext decodes a release context object (the native
// document's "release"), rejecting unknown members so a typo is reported.
func decodeReleaseContext(raw json.RawMessage, path string) (release.Context, error) {
	obj, err := decodeObject(raw, path)
	if err != nil {
		return release.Context{}, err
	}
	for _, k := range sortedMembers(obj) {
		if !releaseContextFields[k] {
			return release.Context{}, release.Fieldf(joinPath(path, k), release.RuleUnmapped, "is not a field of the release context")
		}
	}
	if flags, ok := obj["feature_flags"]; ok && !isNull(flags) {
		var list []json.RawMessage
		if err := json.Unmarshal(flags, &list); err != nil {
			return release.Context{}, release.Fieldf(joinPath(path, "feature_flags"), release.RuleType, "must be an array of {\"key\", \"variant\"}")
		}
		for i, f := range list {
			fpath := fmt.Sprintf("%s[%d]", joinPath(path, "feature_flags"), i)
			flag, err := decodeObject(f, fpath)
			if err != nil {
				return release.Context{}, err
			}
			for _, k := range sortedMembers(flag) {
				if k != "key" && k != "variant" {
					return release.Context{}, release.Fieldf(joinPath(fpath, k), release.RuleUnmapped, "is not a field of a feature flag (key, variant)")
				}
			}
		}
	}
	var c release.Context
	if err := json.Unmarshal(bytes.TrimSpace(raw), &c); err != nil {
		return release.Context{}, jsonFieldError(path, err)
	}
	return c, nil
}

func sortedMembers(o jsonObject) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonFieldError turns an encoding/json error met while decoding the document
// at path into a FieldError naming the field.
func jsonFieldError(path string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return release.Fieldf(fieldOrBody(path), release.RuleSyntax, "is not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := fieldOrBody(path)
		if typ.Field != "" {
			field = joinPath(path, typ.Field)
		}
		return release.Fieldf(field, release.RuleType, "has the wrong JSON type (%s)", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return release.Fieldf(fieldOrBody(path), release.RuleSyntax, "ends before the JSON document is complete")
	}
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return release.Fieldf(joinPath(path, strings.Trim(rest, `"`)), release.RuleUnmapped, "is not a known field")
	}
	return release.Fieldf(fieldOrBody(path), release.RuleSyntax, "%v", err)
}

// parseTime parses an RFC 3339 timestamp.
func parseTime(s, field string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, release.Fieldf(field, release.RuleFormat, "%q is not an RFC 3339 timestamp (e.g. 2026-11-24T10:00:00Z)", s)
	}
	return t, nil
}

// setAttr sets a non-empty attribute.
func setAttr(attrs map[string]string, name, value string) {
	if value = strings.TrimSpace(value); value != "" {
		attrs[name] = value
	}
}

// lastSegment returns what follows the last sep in s, ignoring trailing seps.
func lastSegment(s, sep string) string {
	s = strings.TrimRight(strings.TrimSpace(s), sep)
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// truncate returns at most n bytes of s.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
