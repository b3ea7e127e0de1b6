package storeroles

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/component"
)

// Find returns the release store extension that a component's `store:`
// setting names, or the only one configured when it names none, as R: the
// roles the component needs, usually an interface embedding several of
// this package's. Components call it at Start, the way persistent queues
// find their storage extension.
func Find[R any](host component.Host, id *component.ID) (R, error) {
	var zero R
	exts := host.GetExtensions()
	if id != nil {
		ext, ok := exts[*id]
		if !ok {
			return zero, fmt.Errorf("store: extension %q is not configured in the service's extensions", id)
		}
		roles, ok := ext.(R)
		if !ok {
			return zero, fmt.Errorf("store: extension %q is not a releasestore extension", id)
		}
		return roles, nil
	}
	var (
		found R
		ids   []string
	)
	for eid, ext := range exts {
		if roles, ok := ext.(R); ok {
			found = roles
			ids = append(ids, eid.String())
		}
	}
	switch len(ids) {
	case 0:
		return zero, errors.New("store: no releasestore extension is configured; add one to the service's extensions")
	case 1:
		return found, nil
	}
	// Sorted, so that the message is the same from one start to the next.
	sort.Strings(ids)
	return zero, fmt.Errorf("store: several releasestore extensions are configured (%s); name one (e.g. store: %s)",
		strings.Join(ids, ", "), ids[0])
}
