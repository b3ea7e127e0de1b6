package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func compact(t *testing.T, raw []byte) string {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw), "%s", raw)
	return b.String()
}

// FuzzMembersAndElements checks the walk against encoding/json on every
// valid document: the same members (names decoded alike) and elements, in
// order, each value the same JSON.
func FuzzMembersAndElements(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":{"c":[1,2,{"d":"}"}]},"e":"\"x\"","f":null,"g":true,"h":-1.5e3}`,
		` [ 1 , "a" , { } , [ ] , null ] `, `{"a\u0062":1}`, `{}`, `[]`, `"s"`, `12`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		switch KindOf(doc) {
		case Object:
			dec := json.NewDecoder(bytes.NewReader(doc))
			_, _ = dec.Token() // {
			var names, values []string
			for dec.More() {
				tok, err := dec.Token()
				require.NoError(t, err)
				var v json.RawMessage
				require.NoError(t, dec.Decode(&v))
				names, values = append(names, tok.(string)), append(values, compact(t, v))
			}
			var gotNames, gotValues []string
			require.True(t, Members(doc, func(name, value []byte) bool {
				gotNames, gotValues = append(gotNames, Name(name)), append(gotValues, compact(t, value))
				return true
			}))
			require.Equal(t, names, gotNames, "%s", doc)
			require.Equal(t, values, gotValues, "%s", doc)
			require.False(t, Elements(doc, func(int, []byte) bool { return true }))
		case Array:
			var want []json.RawMessage
			require.NoError(t, json.Unmarshal(doc, &want))
			var got []string
			require.True(t, Elements(doc, func(i int, value []byte) bool {
				require.Equal(t, len(got), i)
				got = append(got, compact(t, value))
				return true
			}))
			require.Len(t, got, len(want), "%s", doc)
			for i := range want {
				require.Equal(t, compact(t, want[i]), got[i])
			}
			require.False(t, Members(doc, func(_, _ []byte) bool { return true }))
		default:
			require.False(t, Members(doc, func(_, _ []byte) bool { return true }))
			require.False(t, Elements(doc, func(int, []byte) bool { return true }))
		}
	})
}

func TestSameName(t *testing.T) {
	require.True(t, SameName([]byte(`ab`), []byte(`a\u0062`)))
	require.True(t, SameName([]byte("\xff"), []byte("\xfe")), "both decode to U+FFFD, as encoding/json decodes them")
	require.False(t, SameName([]byte(`ab`), []byte(`a\u0063`)))
	require.False(t, SameName([]byte(`ab`), []byte(`ac`)))
}

func TestStopsWhenAsked(t *testing.T) {
	n := 0
	Members([]byte(`{"a":1,"b":2,"c":3}`), func(_, _ []byte) bool { n++; return n < 2 })
	require.Equal(t, 2, n)
	n = 0
	Elements([]byte(`[1,2,3]`), func(int, []byte) bool { n++; return false })
	require.Equal(t, 1, n)
}

func TestStringValue(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`: "plain", ` "a\u0062\n" `: "ab\n", `""`: "", "\"\xff\"": "\ufffd", `"\u00e9"`: "é",
	} {
		require.Equal(t, want, StringValue([]byte(raw)), raw)
	}
}

// Index finds a raw name by its decoded form, escaped or not, and
// allocates nothing for a plain one.
func TestIndex(t *testing.T) {
	names := []string{"id", "type", "\ufffd"}
	for raw, want := range map[string]int{`id`: 0, `type`: 1, `\u0069d`: 0, `typ\u0065`: 1, "\xff": 2, `ID`: -1, ``: -1, `idx`: -1} {
		require.Equal(t, want, Index(names, []byte(raw)), raw)
	}
	raw := []byte("type")
	require.Zero(t, testing.AllocsPerRun(100, func() { Index(names, raw) }))
}
