// Package jsonscan walks JSON that is already known to be valid (checked
// with json.Valid) without decoding it: the members of an object and the
// elements of an array, as raw byte ranges of the input. The receiver's
// checks (unique member names, allowed fields) run on every delivery, and
// encoding/json's token stream allocates for each token they look at.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// Kind is the kind of a JSON value, from its first byte.
type Kind byte

const (
	Invalid Kind = iota
	Object
	Array
	String
	Number
	Bool
	Null
)

// KindOf is the kind of the value raw holds (leading space allowed).
func KindOf(raw []byte) Kind {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return Invalid
	}
	switch c := raw[i]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// Members calls fn with the raw name (between its quotes, escapes kept) and
// the raw value of each member of the object raw holds, in order, until fn
// returns false. It reports false when raw does not hold an object.
func Members(raw []byte, fn func(name, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end := skipString(raw, i)
		name := raw[i+1 : end-1]
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := skipSpace(raw, i+1)
		end = skipValue(raw, start)
		if !fn(name, raw[start:end]) {
			return true
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ',' {
			break
		}
		i = skipSpace(raw, i+1)
	}
	return true
}

// Elements calls fn with the index and raw value of each element of the
// array raw holds, in order, until fn returns false. It reports false when
// raw does not hold an array.
func Elements(raw []byte, fn func(index int, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return true
	}
	for n := 0; i < len(raw); n++ {
		end := skipValue(raw, i)
		if !fn(n, raw[i:end]) {
			return true
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ',' {
			break
		}
		i = skipSpace(raw, i+1)
	}
	return true
}

// Name decodes a raw member name as Members gives it, as encoding/json does
// (invalid UTF-8 becomes U+FFFD). Plain names, nearly all, are converted
// without decoding.
func Name(raw []byte) string {
	if plain(raw) {
		return string(raw)
	}
	var s string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	if err := json.Unmarshal(quoted, &s); err != nil {
		return string(raw)
	}
	return s
}

// Index returns the index in names of the member name raw decodes to, or
// -1: Name's decoding, without allocating for a plain name.
func Index(names []string, raw []byte) int {
	if !plain(raw) {
		return slices.Index(names, Name(raw))
	}
	for i, n := range names {
		if string(raw) == n {
			return i
		}
	}
	return -1
}

// StringValue decodes a JSON string value, quotes included, as Members
// and Elements give it (or as valid JSON holds it, with surrounding
// space): the same decoding as Name.
func StringValue(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	return Name(raw[1 : len(raw)-1])
}

// SameName reports whether two raw member names name the same member once
// their escapes are decoded.
func SameName(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if plain(a) && plain(b) {
		return false
	}
	return Name(a) == Name(b)
}

// plain reports whether a raw name is its own decoding: no escapes, valid
// UTF-8.
func plain(raw []byte) bool {
	return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string whose opening quote is at
// raw[i].
func skipString(raw []byte, i int) int {
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(raw)
}

// skipValue returns the index after the value starting at raw[i].
func skipValue(raw []byte, i int) int {
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for ; i < len(raw); i++ {
			switch raw[i] {
			case '"':
				i = skipString(raw, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(raw)
	}
	for ; i < len(raw); i++ {
		switch raw[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}
