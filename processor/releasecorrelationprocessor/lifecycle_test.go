package releasecorrelationprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/releasestoretest"
)

// lifecycleHost is the host of the generated lifecycle tests (tests::host
// in metadata.yaml).
func lifecycleHost(t *testing.T) component.Host { return releasestoretest.NewHost(t) }
