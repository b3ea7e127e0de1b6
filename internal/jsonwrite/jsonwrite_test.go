package jsonwrite

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each writer's bytes are json.Marshal's for the same value, and its
// errors are where json.Marshal has one.
func FuzzWritersMatchMarshal(f *testing.F) {
	f.Add("plain", "k", 12.5, int64(1795000000), int64(0), int16(0))
	f.Add("<a href=\"x\">&\\\n\t\u2028é\xff", "", 1e-7, int64(-62135596800), int64(999999999), int16(-330))
	f.Add("", "\x00", 1e21, int64(253402300800), int64(1), int16(60)) // year 10000
	f.Add("x", "y", math.Inf(1), int64(0), int64(0), int16(0))
	f.Fuzz(func(t *testing.T, s, k string, fl float64, sec, nsec int64, zone int16) {
		want, _ := json.Marshal(s)
		assert.Equal(t, "pre"+string(want), string(String([]byte("pre"), s)))

		got, gotErr := Float(nil, fl)
		want, wantErr := json.Marshal(fl)
		require.Equal(t, wantErr != nil, gotErr != nil, "%v: %v / %v", fl, wantErr, gotErr)
		if wantErr == nil {
			assert.Equal(t, string(want), string(got))
		}

		at := time.Unix(sec, nsec%1e9).In(time.FixedZone("z", int(zone%(24*60))*60))
		got, gotErr = Time(nil, at)
		want, wantErr = json.Marshal(at)
		require.Equal(t, wantErr != nil, gotErr != nil, "%v: %v / %v", at, wantErr, gotErr)
		if wantErr == nil {
			assert.Equal(t, string(want), string(got))
		}

		m := map[string]string{s: k, k: s, "z": "last"}
		want, _ = json.Marshal(m)
		var keys []string
		assert.Equal(t, string(want), string(StringMap(nil, m, &keys)))
		// Past the keys sorted on the stack, through the scratch slice.
		for i := range 20 {
			m[fmt.Sprintf("%s-%02d", s, i)] = k
		}
		want, _ = json.Marshal(m)
		assert.Equal(t, string(want), string(StringMap(nil, m, &keys)))
	})
}

func TestStringMapNil(t *testing.T) {
	var keys []string
	assert.Equal(t, "null", string(StringMap(nil, nil, &keys)))
	assert.Equal(t, "{}", string(StringMap(nil, map[string]string{}, &keys)))
}

func TestOmitEmpty(t *testing.T) {
	assert.Empty(t, OmitEmpty(nil, "a", ""))
	assert.Equal(t, `{"x":1,"a":"\u003cb\u003e"`, string(OmitEmpty([]byte(`{"x":1`), "a", "<b>")))
}
