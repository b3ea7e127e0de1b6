package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

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

// duplicateKey walks the JSON tokens and reports the first member name
// repeated within an object, by its path.
func duplicateKey(body []byte) *release.FieldError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		path   string
		index  int
		// wantKey is true in an object where the next string is a name.
		wantKey bool
		key     string
	}
	var stack []*frame
	childPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.object {
			return joinPath(top.path, top.key)
		}
		return fmt.Sprintf("%s[%d]", top.path, top.index)
	}
	// afterValue moves the enclosing container past a value.
	afterValue := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // not JSON: the source names the syntax error
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, path: childPath(), wantKey: true})
			case '[':
				stack = append(stack, &frame{path: childPath()})
			case '}', ']':
				stack = stack[:len(stack)-1]
				afterValue()
			}
			continue
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.object && top.wantKey {
				name, _ := tok.(string)
				if top.keys[name] {
					return release.Fieldf(fieldOrBody(joinPath(top.path, name)), release.RuleDuplicateKey,
						"is given twice in one object; each member name may appear once")
				}
				top.keys[name] = true
				top.key = name
				top.wantKey = false
				continue
			}
		}
		afterValue()
	}
}
