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
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The decoder as it was before it walked the document with jsonscan: three
// encoding/json passes per document. FuzzDecodeNativeMatchesReference holds
// the walk to the same events and the same errors.

func decodeNativeReference(body []byte) ([]Event, error) {
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
			ev, err := decodeOneReference(raw, fmt.Sprintf("[%d].", i))
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		}
		return events, nil
	}
	ev, err := decodeOneReference(trimmed, "")
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

func decodeOneReference(raw []byte, prefix string) (Event, error) {
	if err := checkFieldsReference(raw, documentFields, prefix, "body"); err != nil {
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
		s, err := scalarStringReference(v)
		if err != nil {
			return Event{}, Fieldf(prefix+"attributes."+k, RuleType, "must be a string, number or boolean")
		}
		ev.Attributes[k] = s
	}
	return ev, nil
}

func checkFieldsReference(raw []byte, allowed []string, prefix, self string) error {
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
			if err := checkFieldsReference(rel, contextFields, prefix, "release"); err != nil {
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
				if err := checkFieldsReference(f, flagFields, prefix, fmt.Sprintf("release.feature_flags[%d]", i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func scalarStringReference(raw json.RawMessage) (string, error) {
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

func FuzzDecodeNativeMatchesReference(f *testing.F) {
	for _, seed := range []string{
		`{"id":"d-1","type":"started","time":"2026-11-24T10:00:00Z","attributes":{"service.name":"checkout","n":3,"b":true,"f":1.50},` +
			`"release":{"previous_version":"v1","strategy":"canary","rollout_percentage":10,"feature_flags":[{"key":"k","variant":"on"}]}}`,
		`[{"id":"a","type":"started","attributes":{"service.name":"x"}},{"id":"b","type":"succeeded","attributes":{"service.name":"y"}}]`,
		`{"id":"a","Type":"started"}`, `{"id":"a","release":{"strategy":"canary","zz":1,"aa":2}}`, `{"release":{"feature_flags":{"key":"k"}}}`,
		`{"release":{"feature_flags":[{"key":"k","bad":1}]}}`, `{"attributes":{"a":[1]}}`, `{"attributes":{"a":null}}`, `[]`, `[1]`, `[[]]`,
		`null`, `"x"`, `{"id":1}`, `{"time":"yesterday"}`, `{"id":"a"} {"id":"b"}`, `{"id":"a"`, ` `, `{"release":null,"attributes":{"s":"a\u0062"}}`,
		`{"":1}`, `{"release":{"rollout_percentage":"ten"}}`, `{"id":"a","id":"b"}`,
		// The release context's own fast path.
		`{"release":{"feature_flags":[]}}`, `{"release":{"feature_flags":[null,{"key":"a","key":"b"}]}}`, `{"release":{"rollout_percentage":1e400}}`,
		`{"release":{"rollout_percentage":null,"strategy":null}}`, `{"release":{"strategy":"a","strategy":"b"}}`, `{"release":{"rollout_percentage":-0}}`,
		`{"release":{"feature_flags":[{"key":"k\u00e9","variant":1}]}}`, `{"release":{"scope":{"a":"b"},"owner":"o"}}`, `{"release":{"owner":"\ud800"}}`,
		`{"release":{"rollout_percentage": 12.5e-1 ,"feature_flags":[{"key":"k"},{"variant":"v"}]}}`, `{"release":{"intent":"x","risk":"high","previous_version":"v0"}}`,
		// Escaped member names, matched by their decoded form.
		`{"\u0069d":"x","type":"started"}`, `{"release":{"str\u0061tegy":"canary","strategy":"x"}}`, `{"release":{"feature_flags":[{"k\u0065y":"a"}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := DecodeNative(body)
		want, wantErr := decodeNativeReference(body)
		if wantErr != nil {
			require.Error(t, gotErr, "%s", body)
			require.Equal(t, wantErr.Error(), gotErr.Error(), "%s", body)
			return
		}
		require.NoError(t, gotErr, "%s", body)
		require.Equal(t, want, got, "%s", body)
	})
}

func BenchmarkDecodeNative(b *testing.B) {
	body := []byte(`{"id":"deploy-1","type":"started","time":"2026-11-24T10:00:00Z","attributes":{"service.name":"checkout",` +
		`"service.namespace":"shop","service.version":"v1.4.2","deployment.environment.name":"production"},` +
		`"release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":10,"feature_flags":[{"key":"new-checkout","variant":"on"}]}}`)
	for _, tc := range []struct {
		name   string
		decode func([]byte) ([]Event, error)
	}{{"scan", DecodeNative}, {"reference", decodeNativeReference}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
