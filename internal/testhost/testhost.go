// Package testhost holds what the components' unit tests share: a collector
// host whose extensions the test chooses, and a free loopback endpoint for
// servers under test.
package testhost

import (
	"net"
	"testing"

	"go.opentelemetry.io/collector/component"
)

// Host is a component.Host serving the given extensions, as the collector
// service does.
type Host struct {
	exts map[component.ID]component.Component
}

// New returns a host with the extensions (none when nil).
func New(exts map[component.ID]component.Component) *Host {
	if exts == nil {
		exts = map[component.ID]component.Component{}
	}
	return &Host{exts: exts}
}

// GetExtensions implements component.Host.
func (h *Host) GetExtensions() map[component.ID]component.Component { return h.exts }

// FreeEndpoint returns a loopback address nothing listens on right now.
func FreeEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
