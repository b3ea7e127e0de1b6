// Package releasestoretest gives tests of the components that depend on
// the release store a collector host serving a real, in-memory one.
package releasestoretest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// NewHost starts an in-memory release store, its API on a free loopback
// port, and returns a host serving it as the only extension. The store is
// shut down when the test ends.
func NewHost(t testing.TB) component.Host {
	t.Helper()
	ctx := context.Background()
	f := releasestoreextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*releasestoreextension.Config)
	cfg.NetAddr.Endpoint = testhost.FreeEndpoint(t)
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	return testhost.New(map[component.ID]component.Component{component.NewID(f.Type()): ext})
}
