package storeroles

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// lookupOnly plays one role, as a store stand-in.
type lookupOnly struct {
	component.Component
	name string
}

func (lookupOnly) Service(release.ServiceKey) *release.ServiceView { return nil }

// otherExtension plays none.
type otherExtension struct{ component.Component }

func TestFind(t *testing.T) {
	storeA := component.MustNewIDWithName("releasestore", "a")
	storeB := component.MustNewIDWithName("releasestore", "b")
	files := component.MustNewID("file_storage")
	a, b := lookupOnly{name: "a"}, lookupOnly{name: "b"}

	host := testhost.New(map[component.ID]component.Component{storeA: a, files: otherExtension{}})
	got, err := Find[ServiceLookup](host, nil)
	require.NoError(t, err)
	assert.Equal(t, a, got, "the only one, when none is named")
	got, err = Find[ServiceLookup](host, &storeA)
	require.NoError(t, err)
	assert.Equal(t, a, got)

	_, err = Find[ServiceLookup](host, &storeB)
	assert.EqualError(t, err, `store: extension "releasestore/b" is not configured in the service's extensions`)
	_, err = Find[ServiceLookup](host, &files)
	assert.EqualError(t, err, `store: extension "file_storage" is not a releasestore extension`)
	_, err = Find[EventRecorder](host, nil)
	assert.EqualError(t, err, "store: no releasestore extension is configured; add one to the service's extensions",
		"an extension lacking a role the component needs is not its store")

	host = testhost.New(map[component.ID]component.Component{storeB: b, storeA: a, files: otherExtension{}})
	for range 5 {
		_, err = Find[ServiceLookup](host, nil)
		assert.EqualError(t, err, "store: several releasestore extensions are configured (releasestore/a, releasestore/b); name one (e.g. store: releasestore/a)")
	}
}

func TestFleetOf(t *testing.T) {
	assert.Nil(t, FleetOf(lookupOnly{}), "a store that is not a FleetMember is not shared")
}
