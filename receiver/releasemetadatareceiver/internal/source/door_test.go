package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestCheckBody(t *testing.T) {
	for _, ok := range []string{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`,
		`[{"id":"x"},{"id":"x"}]`,
		`not json`, // the source reports the syntax error
		`{"name":"café ✓"}`,
	} {
		require.Nil(t, CheckBody([]byte(ok)), ok)
	}
	tests := []struct{ body, field, rule string }{
		{"{\"a\":\"\xc3\x28\"}", "body", release.RuleUTF8},
		{`{"a":1,"a":2}`, "a", release.RuleDuplicateKey},
		{`{"a":{"b":[1,{"c":1,"c":1}]}}`, "a.b[1].c", release.RuleDuplicateKey},
		{`[{"context":{"id":"1"}},{"context":{"id":"1","id":"2"}}]`, "[1].context.id", release.RuleDuplicateKey},
	}
	for _, tt := range tests {
		fe := CheckBody([]byte(tt.body))
		require.NotNil(t, fe, tt.body)
		require.Equal(t, tt.field, fe.Field, tt.body)
		require.Equal(t, tt.rule, fe.Rule, tt.body)
	}
}

func TestCheckCharset(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json;charset=UTF8"} {
		require.Nil(t, CheckCharset(ct), ct)
	}
	fe := CheckCharset("application/json; charset=windows-1252")
	require.NotNil(t, fe)
	require.Equal(t, release.RuleCharset, fe.Rule)
}

func FuzzCheckBody(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":1,"c":1}]}}`))
	f.Add([]byte("{\"a\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if fe := CheckBody(body); fe != nil {
			require.NotEmpty(t, fe.Field)
			require.NotEmpty(t, fe.Message)
		}
	})
}

// duplicateKeyByTokens is the reference for duplicateKey: the same check on
// encoding/json's token stream, which the receiver used before and which
// allocates for every token.
func duplicateKeyByTokens(body []byte) *release.FieldError {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		keys    map[string]bool
		path    string
		index   int
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
	afterValue := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, path: childPath(), wantKey: true})
			case '[':
				stack = append(stack, &frame{path: childPath()})
			default:
				stack = stack[:len(stack)-1]
				afterValue()
			}
			continue
		}
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.object && top.wantKey {
				name, _ := tok.(string)
				if top.keys[name] {
					return release.Fieldf(fieldOrBody(joinPath(top.path, name)), release.RuleDuplicateKey, "is given twice")
				}
				top.keys[name], top.key, top.wantKey = true, name, false
				continue
			}
		}
		afterValue()
	}
}

// FuzzDuplicateKeyMatchesTokenWalk checks the byte scanner against the token
// walk on every valid JSON document: the same duplicate, at the same path.
func FuzzDuplicateKeyMatchesTokenWalk(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":1}]}}`, `[{"x":1},{"x":2,"x":3}]`,
		`{"a\u0062":1,"ab":2}`, `{"":1,"":2}`, `{"a":"}\"{","a":1}`, ` { "k" : [ [ ] , { } ] , "k" : null } `,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
		`{"ok":true,"n":-1.5e3,"s":"\\","t":[true,false,null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		got, want := duplicateKey(body), duplicateKeyByTokens(body)
		if want == nil {
			require.Nil(t, got, "%s", body)
			return
		}
		require.NotNil(t, got, "%s", body)
		require.Equal(t, want.Field, got.Field, "%s", body)
		require.Equal(t, release.RuleDuplicateKey, got.Rule)
	})
}

func BenchmarkCheckBody(b *testing.B) {
	body := []byte(`{"id":"deploy-1","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",` +
		`"service.version":"v1.4.2","deployment.environment.name":"production"},"release":{"strategy":"canary","rollout_percentage":10,` +
		`"feature_flags":[{"key":"new-checkout","variant":"on"}]}}`)
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if CheckBody(body) != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("token_walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if duplicateKeyByTokens(body) != nil {
				b.Fatal("rejected")
			}
		}
	})
}
