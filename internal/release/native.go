package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// nativeDocument is the wire form of the native deploy event.
type nativeDocument struct {
	ID         string                     `json:"id"`
	Type       string                     `json:"type"`
	Time       string                     `json:"time"`
	Attributes map[string]json.RawMessage `json:"attributes"`
	Release    Context                    `json:"release"`
}

// DecodeNative parses a native deploy-event document, or a JSON array of them.
// Unknown fields are rejected so that a misspelt key is reported, not ignored.
// It checks syntax and types only; Gates.Normalize checks content.
func DecodeNative(body []byte) ([]Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, Fieldf("body", RuleRequired, "is empty; expected a deploy event JSON object")
	}
	if trimmed[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, jsonError("", err)
		}
		if len(raws) == 0 {
			return nil, Fieldf("body", RuleRequired, "is an empty array; expected at least one deploy event")
		}
		events := make([]Event, 0, len(raws))
		for i, raw := range raws {
			ev, err := decodeOne(raw, fmt.Sprintf("[%d].", i))
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		}
		return events, nil
	}
	ev, err := decodeOne(trimmed, "")
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// Fields each object of the native document may hold. They are checked
// exactly (encoding/json alone matches names case-insensitively and reports
// unknown nested fields without their path).
var (
	documentFields = []string{"id", "type", "time", "attributes", "release"}
	contextFields  = []string{"previous_version", "strategy", "rollout_percentage", "feature_flags", "intent", "risk", "owner", "scope"}
	flagFields     = []string{"key", "variant"}
)

func decodeOne(raw []byte, prefix string) (Event, error) {
	if err := checkFields(raw, documentFields, prefix, "body"); err != nil {
		return Event{}, err
	}
	var doc nativeDocument
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return Event{}, jsonError(prefix, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, Fieldf(prefix+"body", RuleSyntax, "has data after the JSON object")
	}
	ev := Event{ID: doc.ID, Type: EventType(doc.Type), Source: "native", Release: doc.Release}
	if doc.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, doc.Time)
		if err != nil {
			return Event{}, Fieldf(prefix+"time", RuleFormat, "%q is not an RFC 3339 timestamp (e.g. 2026-11-24T10:00:00Z)", doc.Time)
		}
		ev.Time = t
	}
	ev.Attributes = make(map[string]string, len(doc.Attributes))
	for k, v := range doc.Attributes {
		s, err := scalarString(v)
		if err != nil {
			return Event{}, Fieldf(prefix+"attributes."+k, RuleType, "must be a string, number or boolean")
		}
		ev.Attributes[k] = s
	}
	return ev, nil
}

// checkFields rejects a value that is not an object, or an object with a key
// outside allowed, naming the full path; it recurses into release and its
// feature flags.
func checkFields(raw []byte, allowed []string, prefix, self string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return jsonError(prefix, err)
		}
		return Fieldf(prefix+self, RuleType, "must be a JSON object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(allowed, k) {
			name := k
			if name == "" {
				name = `""`
			}
			return Fieldf(joinPath(prefix, self, name), RuleUnmapped, "is not a field of the deploy event document; expected one of %s", strings.Join(allowed, ", "))
		}
	}
	if self == "body" {
		if rel, ok := obj["release"]; ok && string(bytes.TrimSpace(rel)) != "null" {
			if err := checkFields(rel, contextFields, prefix, "release"); err != nil {
				return err
			}
		}
	}
	if self == "release" {
		if flags, ok := obj["feature_flags"]; ok && string(bytes.TrimSpace(flags)) != "null" {
			var list []json.RawMessage
			if err := json.Unmarshal(flags, &list); err != nil {
				return Fieldf(prefix+"release.feature_flags", RuleType, "must be an array of {\"key\", \"variant\"} objects")
			}
			for i, f := range list {
				if err := checkFields(f, flagFields, prefix, fmt.Sprintf("release.feature_flags[%d]", i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func joinPath(prefix, self, name string) string {
	if self == "body" {
		return prefix + name
	}
	return prefix + self + "." + name
}

// scalarString renders a JSON string, number or boolean as a string.
func scalarString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return strconv.FormatBool(b), nil
	}
	return "", errors.New("not a scalar")
}

// jsonError turns encoding/json errors into FieldErrors that name the field.
func jsonError(prefix string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Fieldf(prefix+"body", RuleSyntax, "is not valid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return Fieldf(prefix+field, RuleType, "must be %s, not a JSON %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return Fieldf(prefix+"body", RuleSyntax, "ends before the JSON document is complete")
	}
	return Fieldf(prefix+"body", RuleSyntax, "%s", err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "float64", "int", "int64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a number"
	}
	return "a " + k
}
