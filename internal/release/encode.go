package release

import (
	"time"

	"github.com/otelcol-release/otelcol-release/internal/jsonwrite"
)

// Encoder appends events and releases as JSON, byte for byte as
// json.Marshal encodes them, without reflection: the store's log holds one
// event per delivery and each snapshot every release. Its scratch space is
// reused, so an Encoder is for one goroutine at a time. A new type field
// must be added here too (TestEncoderKnowsEveryField fails until it is).
type Encoder struct {
	keys []string
	err  error
}

// AppendEvent appends e as json.Marshal(e) would.
func (enc *Encoder) AppendEvent(b []byte, e *Event) ([]byte, error) {
	enc.err = nil
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, e.ID)
	b = append(b, `,"type":`...)
	b = jsonwrite.String(b, string(e.Type))
	b = append(b, `,"time":`...)
	b = enc.time(b, e.Time)
	b = append(b, `,"received_at":`...)
	b = enc.time(b, e.ReceivedAt)
	b = append(b, `,"source":`...)
	b = jsonwrite.String(b, e.Source)
	b = append(b, `,"attributes":`...)
	b = jsonwrite.StringMap(b, e.Attributes, &enc.keys)
	b = append(b, `,"release":`...)
	b = enc.context(b, &e.Release)
	if e.RestoresVersion {
		b = append(b, `,"restores_version":true`...)
	}
	return append(b, '}'), enc.err
}

// AppendRelease appends r as json.Marshal(r) would (null for nil).
func (enc *Encoder) AppendRelease(b []byte, r *Release) ([]byte, error) {
	enc.err = nil
	if r == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, r.ID)
	b = append(b, `,"status":`...)
	b = jsonwrite.String(b, string(r.Status))
	b = append(b, `,"attributes":`...)
	b = jsonwrite.StringMap(b, r.Attributes, &enc.keys)
	b = append(b, `,"release":`...)
	b = enc.context(b, &r.Release)
	b = append(b, `,"source":`...)
	b = jsonwrite.String(b, r.Source)
	b = append(b, `,"started_at":`...)
	b = enc.time(b, r.StartedAt)
	b = append(b, `,"updated_at":`...)
	b = enc.time(b, r.UpdatedAt)
	if r.CompletedAt != nil {
		b = append(b, `,"completed_at":`...)
		b = enc.time(b, *r.CompletedAt)
	}
	if r.EndedAt != nil {
		b = append(b, `,"ended_at":`...)
		b = enc.time(b, *r.EndedAt)
	}
	b = append(b, `,"events":`...)
	if r.Events == nil {
		b = append(b, "null"...)
	} else {
		b = jsonwrite.Array(b, len(r.Events), func(b []byte, i int) []byte { return enc.eventRef(b, &r.Events[i]) })
	}
	if len(r.Annotations) > 0 {
		b = jsonwrite.Array(append(b, `,"annotations":`...), len(r.Annotations), func(b []byte, i int) []byte {
			return enc.annotation(b, &r.Annotations[i])
		})
	}
	return append(b, '}'), enc.err
}

func (enc *Encoder) context(b []byte, c *Context) []byte {
	b = append(b, '{')
	n := len(b) // a member before this one needs a comma
	if c.PreviousVersion != "" {
		b = member(b, n, "previous_version")
		b = jsonwrite.String(b, c.PreviousVersion)
	}
	if c.Strategy != "" {
		b = member(b, n, "strategy")
		b = jsonwrite.String(b, string(c.Strategy))
	}
	if c.RolloutPercentage != nil {
		b = member(b, n, "rollout_percentage")
		b = enc.float(b, *c.RolloutPercentage)
	}
	if len(c.FeatureFlags) > 0 {
		b = jsonwrite.Array(member(b, n, "feature_flags"), len(c.FeatureFlags), func(b []byte, i int) []byte {
			f := &c.FeatureFlags[i]
			b = jsonwrite.String(append(b, `{"key":`...), f.Key)
			if f.Variant != "" {
				b = jsonwrite.String(append(b, `,"variant":`...), f.Variant)
			}
			return append(b, '}')
		})
	}
	if c.Intent != "" {
		b = member(b, n, "intent")
		b = jsonwrite.String(b, c.Intent)
	}
	if c.Risk != "" {
		b = member(b, n, "risk")
		b = jsonwrite.String(b, c.Risk)
	}
	if c.Owner != "" {
		b = member(b, n, "owner")
		b = jsonwrite.String(b, c.Owner)
	}
	if len(c.Scope) > 0 {
		b = member(b, n, "scope")
		b = jsonwrite.StringMap(b, c.Scope, &enc.keys)
	}
	return append(b, '}')
}

func (enc *Encoder) eventRef(b []byte, r *EventRef) []byte {
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, r.ID)
	b = append(b, `,"type":`...)
	b = jsonwrite.String(b, string(r.Type))
	b = append(b, `,"source":`...)
	b = jsonwrite.String(b, r.Source)
	b = append(b, `,"time":`...)
	b = enc.time(b, r.Time)
	b = append(b, `,"received_at":`...)
	b = enc.time(b, r.ReceivedAt)
	if r.RolloutPercentage != nil {
		b = append(b, `,"rollout_percentage":`...)
		b = enc.float(b, *r.RolloutPercentage)
	}
	return append(b, '}')
}

func (enc *Encoder) annotation(b []byte, a *Annotation) []byte {
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, a.ID)
	b = append(b, `,"release_id":`...)
	b = jsonwrite.String(b, a.ReleaseID)
	b = jsonwrite.OmitEmpty(b, "decision_id", a.DecisionID)
	b = append(b, `,"label":`...)
	b = jsonwrite.String(b, a.Label)
	b = jsonwrite.OmitEmpty(b, "text", a.Text)
	b = jsonwrite.OmitEmpty(b, "link", a.Link)
	b = jsonwrite.OmitEmpty(b, "author", a.Author)
	b = append(b, `,"created_at":`...)
	b = enc.time(b, a.CreatedAt)
	return append(b, '}')
}

// member appends a member's name, after a comma unless it is the first of
// the object that starts at offset start.
func member(b []byte, start int, name string) []byte {
	if len(b) > start {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, `":`...)
}

// time and float keep the first error and go on: the caller returns it
// and discards the bytes.
func (enc *Encoder) time(b []byte, t time.Time) []byte {
	b, err := jsonwrite.Time(b, t)
	if err != nil && enc.err == nil {
		enc.err = err
	}
	return b
}

func (enc *Encoder) float(b []byte, f float64) []byte {
	b, err := jsonwrite.Float(b, f)
	if err != nil && enc.err == nil {
		enc.err = err
	}
	return b
}
