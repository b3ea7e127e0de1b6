package releasemetadatareceiver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// appendReply writes each field by hand: one added to these types without
// it would be missing from every answer.
func TestAppendReplyKnowsEveryField(t *testing.T) {
	assert.Equal(t, 7, reflect.TypeFor[reply]().NumField(), "reply changed: update appendReply and this count")
	assert.Equal(t, 4, reflect.TypeFor[replyEvent]().NumField(), "replyEvent changed: update appendReply and this count")
	assert.Equal(t, 3, reflect.TypeFor[release.FieldError]().NumField(), "FieldError changed: update appendReply and this count")
}

// The answer's bytes are json.Encoder's for the same reply.
func FuzzAppendReplyMatchesEncoder(f *testing.F) {
	f.Add("accepted", "", "d-1", "checkout-v2", "in_progress", "", uint8(0x01))
	f.Add("rejected", "", "", "", "", "<bad> & \"quoted\" \u2028 \xff", uint8(0x0e))
	f.Add("ignored", "the delivery holds no deploy event", "", "", "", "", uint8(0x30))
	f.Fuzz(func(t *testing.T, status, reason, id, deployment, relStatus, text string, opt uint8) {
		has := func(bit uint8) bool { return opt&(1<<bit) != 0 }
		rep := reply{Status: status, Reason: reason}
		if has(0) {
			rep.Events = []replyEvent{{ID: id, DeploymentID: deployment, Outcome: "accepted", Status: release.Status(relStatus)}, {ID: text, Outcome: "duplicate"}}
		}
		if has(1) {
			rep.Error = text
		}
		if has(2) {
			rep.Field = id
		}
		if has(3) {
			rep.Rule = reason
		}
		if has(4) {
			rep.Warnings = []*release.FieldError{{Field: id, Rule: reason, Message: text}}
		}
		if has(5) {
			rep.Warnings = append(rep.Warnings, nil)
		}
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(rep))
		assert.Equal(t, want.String(), string(appendReply(nil, &rep)))
	})
}
