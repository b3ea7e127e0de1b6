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

	"github.com/otelcol-release/otelcol-release/internal/jsonscan"
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
	// Syntax first, once: the checks below walk the document as valid JSON.
	if !json.Valid(trimmed) {
		var v any
		return nil, jsonError("", json.Unmarshal(trimmed, &v))
	}
	if trimmed[0] == '[' {
		var events []Event
		var err error
		jsonscan.Elements(trimmed, func(i int, raw []byte) bool {
			var ev Event
			if ev, err = decodeOne(raw, fmt.Sprintf("[%d].", i)); err != nil {
				return false
			}
			events = append(events, ev)
			return true
		})
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return nil, Fieldf("body", RuleRequired, "is an empty array; expected at least one deploy event")
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

// decodeOne decodes one document of valid JSON.
func decodeOne(raw []byte, prefix string) (Event, error) {
	if err := checkFields(raw, documentFields, prefix, "body"); err != nil {
		return Event{}, err
	}
	doc, attrs, ok := scanDocument(raw)
	if !ok {
		// Repeated members or values of the wrong type: encoding/json
		// decides what they mean and words the error.
		doc = nativeDocument{}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return Event{}, jsonError(prefix, err)
		}
	}
	ev := Event{ID: doc.ID, Type: EventType(doc.Type), Source: "native", Release: doc.Release, Attributes: attrs}
	if doc.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, doc.Time)
		if err != nil {
			return Event{}, Fieldf(prefix+"time", RuleFormat, "%q is not an RFC 3339 timestamp (e.g. 2026-11-24T10:00:00Z)", doc.Time)
		}
		ev.Time = t
	}
	if !ok {
		// After the time, as the error to report is the time's.
		ev.Attributes = make(map[string]string, len(doc.Attributes))
		for k, v := range doc.Attributes {
			s, err := scalarString(v)
			if err != nil {
				return Event{}, Fieldf(prefix+"attributes."+k, RuleType, "must be a string, number or boolean")
			}
			ev.Attributes[k] = s
		}
	}
	if ev.Attributes == nil {
		ev.Attributes = map[string]string{}
	}
	return ev, nil
}

// scanDocument decodes the common document, each member once and of its
// type, walking it as bytes (a release context with a scope goes through
// encoding/json), and the attributes come out as strings. It reports false
// for anything else, which the caller decodes with encoding/json for its
// exact meaning and errors. raw is a valid JSON object whose members
// checkFields allowed.
func scanDocument(raw []byte) (doc nativeDocument, attrs map[string]string, ok bool) {
	ok = scanMembers(raw, documentFields, func(i int, value []byte) (ok bool) {
		switch documentFields[i] {
		case "id":
			doc.ID, ok = scanString(value)
		case "type":
			doc.Type, ok = scanString(value)
		case "time":
			doc.Time, ok = scanString(value)
		case "attributes":
			attrs, ok = scanAttributes(value)
		case "release":
			if doc.Release, ok = scanContext(value); !ok {
				ok = json.Unmarshal(value, &doc.Release) == nil
			}
		}
		return ok
	})
	return doc, attrs, ok
}

// scanMembers calls member for each member of the object raw with the
// index of its name in names, each name at most once; false when a member
// is not one of names or repeats one, or when member returns false.
func scanMembers(raw []byte, names []string, member func(i int, value []byte) bool) bool {
	var seen uint32 // names seen, by index
	ok := true
	jsonscan.Members(raw, func(rawName, value []byte) bool {
		i := jsonscan.Index(names, rawName)
		if i < 0 || seen&(1<<i) != 0 {
			ok = false
			return false
		}
		seen |= 1 << i
		ok = member(i, value)
		return ok
	})
	return ok
}

// scanContext decodes the release context when it is null or an object of
// its members other than scope, each once and of its type; false for
// anything else, which encoding/json decodes. value is valid
// JSON whose members checkFields allowed.
func scanContext(value []byte) (c Context, ok bool) {
	switch jsonscan.KindOf(value) {
	case jsonscan.Null:
		return c, true
	case jsonscan.Object:
	default:
		return c, false
	}
	ok = scanMembers(value, contextFields, func(i int, v []byte) (ok bool) {
		switch contextFields[i] {
		case "previous_version":
			c.PreviousVersion, ok = scanString(v)
		case "strategy":
			var s string
			s, ok = scanString(v)
			c.Strategy = Strategy(s)
		case "intent":
			c.Intent, ok = scanString(v)
		case "risk":
			c.Risk, ok = scanString(v)
		case "owner":
			c.Owner, ok = scanString(v)
		case "rollout_percentage":
			c.RolloutPercentage, ok = scanNumber(v)
		case "feature_flags":
			c.FeatureFlags, ok = scanFlags(v)
		default:
			ok = false
		}
		return ok
	})
	return c, ok
}

// scanFlags decodes feature flags as encoding/json does: null is none, an
// empty array an empty list, a null element a zero flag; false for anything
// else, or a member repeated.
func scanFlags(value []byte) ([]FeatureFlag, bool) {
	switch jsonscan.KindOf(value) {
	case jsonscan.Null:
		return nil, true
	case jsonscan.Array:
	default:
		return nil, false
	}
	flags := []FeatureFlag{}
	ok := true
	jsonscan.Elements(value, func(_ int, raw []byte) bool {
		var f FeatureFlag
		switch jsonscan.KindOf(raw) {
		case jsonscan.Null:
		case jsonscan.Object:
			ok = scanMembers(raw, flagFields, func(i int, v []byte) (ok bool) {
				if flagFields[i] == "key" {
					f.Key, ok = scanString(v)
				} else {
					f.Variant, ok = scanString(v)
				}
				return ok
			})
		default:
			ok = false
		}
		flags = append(flags, f)
		return ok
	})
	return flags, ok
}

// scanNumber decodes a number member into a *float64 as encoding/json does
// (null: nil); false for another kind or a number out of range.
func scanNumber(value []byte) (*float64, bool) {
	switch jsonscan.KindOf(value) {
	case jsonscan.Null:
		return nil, true
	case jsonscan.Number:
	default:
		return nil, false
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
	if err != nil {
		return nil, false
	}
	return &f, true
}

// scanString decodes a string member, or null as encoding/json leaves it:
// empty.
func scanString(value []byte) (string, bool) {
	switch jsonscan.KindOf(value) {
	case jsonscan.String:
		return jsonscan.StringValue(value), true
	case jsonscan.Null:
		return "", true
	}
	return "", false
}

// scanAttributes decodes the attributes object into strings as
// scalarString renders them (null: none); false if it is not an object of
// scalars.
func scanAttributes(value []byte) (map[string]string, bool) {
	switch jsonscan.KindOf(value) {
	case jsonscan.Null:
		return nil, true
	case jsonscan.Object:
	default:
		return nil, false
	}
	attrs := map[string]string{}
	scalars := true
	jsonscan.Members(value, func(rawName, v []byte) bool {
		s, err := scalarString(v)
		if err != nil {
			scalars = false
			return false
		}
		attrs[attributeName(rawName)] = s
		return true
	})
	return attrs, scalars
}

// eventAttributeNames are the attribute names deploy events carry, nearly
// every event all of the identity ones: a release keeps its event's
// attributes for as long as it is held, and one shared string per name
// instead of one per event is less for the garbage collector to trace.
var eventAttributeNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		AttrServiceName, AttrServiceNamespace, AttrServiceVersion, AttrDeploymentEnvironment, AttrDeploymentID,
		AttrDeploymentName, AttrDeploymentStatus, AttrVCSRevision, AttrVCSRefName, AttrVCSRepositoryURL, AttrVCSChangeID,
		AttrCICDPipelineName, AttrCICDPipelineRunID, AttrCICDPipelineResult, AttrOCIManifestDigest, AttrK8sClusterName,
	} {
		m[n] = n
	}
	return m
}()

// attributeName decodes a raw attribute name, sharing the string of a
// known one.
func attributeName(raw []byte) string {
	if n, ok := eventAttributeNames[string(raw)]; ok {
		return n
	}
	return jsonscan.Name(raw)
}

// checkFields rejects a value that is not an object, or an object with a key
// outside allowed (the first in sorted order), naming the full path; it
// recurses into release and its feature flags. raw is valid JSON.
func checkFields(raw []byte, allowed []string, prefix, self string) error {
	var unknown string
	hasUnknown := false
	var rel, flags []byte
	isObject := jsonscan.Members(raw, func(rawName, value []byte) bool {
		i := jsonscan.Index(allowed, rawName)
		if i < 0 {
			if name := jsonscan.Name(rawName); !hasUnknown || name < unknown {
				unknown, hasUnknown = name, true
			}
			return true
		}
		name := allowed[i]
		// The last of repeated members counts, as encoding/json decodes it.
		switch {
		case self == "body" && name == "release":
			rel = value
		case self == "release" && name == "feature_flags":
			flags = value
		}
		return true
	})
	if !isObject {
		return Fieldf(prefix+self, RuleType, "must be a JSON object")
	}
	if hasUnknown {
		if unknown == "" {
			unknown = `""`
		}
		return Fieldf(joinPath(prefix, self, unknown), RuleUnmapped, "is not a field of the deploy event document; expected one of %s", strings.Join(allowed, ", "))
	}
	if rel != nil && jsonscan.KindOf(rel) != jsonscan.Null {
		if err := checkFields(rel, contextFields, prefix, "release"); err != nil {
			return err
		}
	}
	if flags != nil && jsonscan.KindOf(flags) != jsonscan.Null {
		var err error
		isArray := jsonscan.Elements(flags, func(i int, f []byte) bool {
			err = checkFields(f, flagFields, prefix, fmt.Sprintf("release.feature_flags[%d]", i))
			return err == nil
		})
		if !isArray {
			return Fieldf(prefix+"release.feature_flags", RuleType, "must be an array of {\"key\", \"variant\"} objects")
		}
		if err != nil {
			return err
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
	switch jsonscan.KindOf(raw) {
	case jsonscan.String:
		return jsonscan.StringValue(raw), nil
	case jsonscan.Number:
		// As json.Number keeps it: the literal.
		return string(bytes.TrimSpace(raw)), nil
	case jsonscan.Bool:
		return strconv.FormatBool(bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true"))), nil
	case jsonscan.Null:
		return "", nil // as an absent value: decoding null into a string leaves it empty
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
