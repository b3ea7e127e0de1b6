package source

import (
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
