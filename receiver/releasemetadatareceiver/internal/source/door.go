package source

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/otelcol-release/otelcol-release/internal/jsonscan"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Checks every delivery passes before a source reads it. Every source speaks
// JSON (RFC 8259: UTF-8, member names should be unique); encoding/json
// would replace invalid UTF-8 with U+FFFD and keep the last of duplicate
// members, silently changing what the sender meant.

// CheckCharset refuses a Content-Type charset other than UTF-8. No charset
// is UTF-8, as JSON is.
func CheckCharset(contentType string) *release.FieldError {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil // the media type check reports it
	}
	cs, ok := params["charset"]
	if !ok {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "utf-8", "utf8":
		return nil
	}
	return release.Fieldf("header Content-Type", release.RuleCharset,
		"charset %q is not accepted; send the JSON body as UTF-8 (charset=utf-8 or none)", truncate(cs, 64))
}

// CheckBody refuses a body that is not valid UTF-8 or whose JSON repeats a
// member name within one object. A body that is not JSON at all passes:
// the source reports its syntax error with the field it expected.
func CheckBody(body []byte) *release.FieldError {
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, size := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return release.Fieldf("body", release.RuleUTF8, "is not valid UTF-8 (first bad byte at offset %d)", off)
	}
	return duplicateKey(body)
}

// duplicateKey reports the first member name repeated within an object, in
// document order, by its path. A body that is not valid JSON passes.
func duplicateKey(body []byte) *release.FieldError {
	if !json.Valid(body) {
		return nil
	}
	return duplicateIn(body, nil)
}

// pathStep is one step of the path to a value, built only when an error
// names it.
type pathStep struct {
	parent *pathStep
	name   []byte // raw member name; nil for an array element
	index  int
}

func (p *pathStep) String() string {
	if p == nil {
		return ""
	}
	if p.name == nil {
		return fmt.Sprintf("%s[%d]", p.parent.String(), p.index)
	}
	return joinPath(p.parent.String(), jsonscan.Name(p.name))
}

// namesInline is how many member names an object's check compares pairwise
// before it switches to a set.
const namesInline = 16

func duplicateIn(raw []byte, path *pathStep) *release.FieldError {
	var found *release.FieldError
	switch jsonscan.KindOf(raw) {
	case jsonscan.Object:
		var inline [namesInline][]byte
		names := inline[:0]
		var set map[string]bool
		jsonscan.Members(raw, func(name, value []byte) bool {
			dup := false
			if set != nil {
				n := jsonscan.Name(name)
				dup, set[n] = set[n], true
			} else {
				for _, seen := range names {
					if jsonscan.SameName(seen, name) {
						dup = true
						break
					}
				}
				if names = append(names, name); len(names) > namesInline {
					set = make(map[string]bool, 2*len(names))
					for _, n := range names {
						set[jsonscan.Name(n)] = true
					}
				}
			}
			if dup {
				found = release.Fieldf(fieldOrBody(joinPath(path.String(), jsonscan.Name(name))), release.RuleDuplicateKey,
					"is given twice in one object; each member name may appear once")
				return false
			}
			if k := jsonscan.KindOf(value); k == jsonscan.Object || k == jsonscan.Array {
				found = duplicateIn(value, &pathStep{parent: path, name: name})
			}
			return found == nil
		})
	case jsonscan.Array:
		jsonscan.Elements(raw, func(i int, value []byte) bool {
			found = duplicateIn(value, &pathStep{parent: path, index: i})
			return found == nil
		})
	}
	return found
}
