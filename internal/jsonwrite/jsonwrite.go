// Package jsonwrite appends JSON values to a byte slice exactly as
// encoding/json.Marshal encodes them (HTML-safe strings, sorted map keys,
// RFC 3339 times, its float format), without reflection. The store encodes
// a log record per deploy event and a whole snapshot per compaction, and
// json.Marshal's reflection and its re-validation of nested MarshalJSON
// output were a tenth of the receiver's CPU per event.
package jsonwrite

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// String appends s as a JSON string.
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// Escapes, non-ASCII and invalid UTF-8: rare in what the store
			// writes, and encoding/json's rules for them are many.
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// OmitEmpty appends `,"name":` and value as a JSON string unless value is
// empty: a string member tagged omitempty, after an earlier member.
func OmitEmpty(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	return String(b, value)
}

// Time appends t as encoding/json does: a quoted RFC 3339 time with
// sub-second precision; a time RFC 3339 cannot hold is an error.
func Time(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	return append(b, '"'), nil
}

// Float appends f as encoding/json encodes a float64; NaN and infinities
// are an error, as there.
func Float(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9, as in ES6.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// StringMap appends m as a JSON object with its keys in sorted order, or
// null when m is nil. keys is scratch space, reused across calls, for maps
// of more keys than a buffer on the stack holds.
func StringMap(b []byte, m map[string]string, keys *[]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var inline [16]string
	sorted := inline[:0]
	if len(m) > len(inline) {
		*keys = (*keys)[:0]
		for k := range m {
			*keys = append(*keys, k)
		}
		sorted = *keys
	} else {
		for k := range m {
			sorted = append(sorted, k)
		}
	}
	slices.Sort(sorted)
	b = append(b, '{')
	for i, k := range sorted {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, k)
		b = append(b, ':')
		b = String(b, m[k])
	}
	return append(b, '}')
}

// Array appends a JSON array of n elements, each appended by elem.
func Array(b []byte, n int, elem func(b []byte, i int) []byte) []byte {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, i)
	}
	return append(b, ']')
}
