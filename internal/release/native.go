package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

func decodeOne(raw []byte, prefix string) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var doc nativeDocument
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
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return Fieldf(prefix+strings.Trim(rest, `"`), RuleUnmapped, "is not a field of the deploy event document")
	}
	return Fieldf(prefix+"body", RuleSyntax, "%s", msg)
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
