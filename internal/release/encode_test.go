package release

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Encoder writes each field by hand: a field added to one of these
// types without it would be lost from the log and snapshots.
func TestEncoderKnowsEveryField(t *testing.T) {
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[Event](): 8, reflect.TypeFor[Release](): 11, reflect.TypeFor[Context](): 8,
		reflect.TypeFor[EventRef](): 6, reflect.TypeFor[Annotation](): 8, reflect.TypeFor[FeatureFlag](): 2,
	} {
		assert.Equal(t, fields, typ.NumField(), "%s changed: update Encoder (encode.go) and this count", typ)
	}
}

// encoderCase builds an event and a release whose every field comes from
// the inputs, with the optional ones present or not.
func encoderCase(s1, s2, s3 string, pct float64, sec int64, nsec int32, zone int16, opt uint8) (*Event, *Release) {
	loc := time.FixedZone("z", int(zone)*60)
	at := time.Unix(sec, int64(nsec)).In(loc)
	has := func(bit uint8) bool { return opt&(1<<bit) != 0 }
	ctx := Context{Intent: s3}
	if has(0) {
		ctx.PreviousVersion, ctx.Strategy, ctx.Risk, ctx.Owner = s1, Strategy(s2), s2, s1
		ctx.RolloutPercentage = &pct
	}
	if has(1) {
		ctx.FeatureFlags = []FeatureFlag{{Key: s1}, {Key: s2, Variant: s3}}
		ctx.Scope = map[string]string{s1: s2, s3: s1, "region": "eu"}
	}
	e := &Event{ID: s1, Type: EventType(s2), Time: at, ReceivedAt: at.Add(time.Second), Source: s3,
		Release: ctx, RestoresVersion: has(2)}
	if has(3) {
		e.Attributes = map[string]string{s1: s2, s2: s3, AttrServiceName: s1}
	}
	r := &Release{ID: s2, Status: Status(s3), Attributes: e.Attributes, Release: ctx, Source: s1, StartedAt: at, UpdatedAt: at.Add(time.Minute)}
	if has(4) {
		r.CompletedAt, r.EndedAt = &at, &e.ReceivedAt
	}
	if has(5) {
		r.Events = []EventRef{{ID: s1, Type: EventType(s2), Source: s3, Time: at, ReceivedAt: at}, {ID: s2, RolloutPercentage: &pct}}
	}
	if has(6) {
		r.Annotations = []Annotation{{ID: s1, ReleaseID: s2, Label: s3, CreatedAt: at}, {DecisionID: s1, Text: s2, Link: s3, Author: s1}}
	}
	return e, r
}

func FuzzEncoderMatchesMarshal(f *testing.F) {
	f.Add("checkout", "started", "native", 12.5, int64(1795000000), int32(123456789), int16(0), uint8(0xff))
	f.Add("", "", "", 0.0, int64(0), int32(0), int16(60), uint8(0))
	f.Add("a<b>&c", "\"q\"\\", "é\u2028\x01\xff", 1e-7, int64(-62135596800), int32(1), int16(-330), uint8(0x55))
	f.Add("x", "y", "z", 1e21, int64(253402300800), int32(0), int16(0), uint8(0xaa)) // year 10000: an error
	f.Add("x", "y", "z", math.NaN(), int64(1), int32(0), int16(0), uint8(1))         // NaN: an error
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, pct float64, sec int64, nsec int32, zone int16, opt uint8) {
		if nsec < 0 {
			nsec = -nsec
		}
		e, r := encoderCase(s1, s2, s3, pct, sec, nsec%1e9, zone%(24*60), opt)
		var enc Encoder
		got, gotErr := enc.AppendEvent([]byte("prefix"), e)
		want, wantErr := json.Marshal(e)
		require.Equal(t, wantErr != nil, gotErr != nil, "event: encoding/json said %v, Encoder %v", wantErr, gotErr)
		if wantErr == nil {
			require.Equal(t, "prefix"+string(want), string(got), "event")
		}
		got, gotErr = enc.AppendRelease(nil, r)
		want, wantErr = json.Marshal(r)
		require.Equal(t, wantErr != nil, gotErr != nil, "release: encoding/json said %v, Encoder %v", wantErr, gotErr)
		if wantErr == nil {
			require.Equal(t, string(want), string(got), "release")
		}
	})
}

func TestEncoderNilRelease(t *testing.T) {
	var enc Encoder
	got, err := enc.AppendRelease(nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "null", string(got))
}
