package release

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSignalNames(t *testing.T) {
	assert.Equal(t, "latency_p95", LatencySignal(0.95))
	assert.Equal(t, "latency_p99.9", LatencySignal(0.999))
	q, ok := LatencyQuantile(LatencySignal(0.5))
	assert.True(t, ok)
	assert.Equal(t, "p50", q)
	_, ok = LatencyQuantile(SignalErrorRate)
	assert.False(t, ok)

	assert.Equal(t, "kpi:checkout_value", KPISignal("checkout_value"))
	name, ok := KPIName(KPISignal("checkout_value"))
	assert.True(t, ok)
	assert.Equal(t, "checkout_value", name)
	_, ok = KPIName(SignalLogErrorRate)
	assert.False(t, ok)
}

func TestQualifiedServiceName(t *testing.T) {
	assert.Equal(t, "shop/checkout", QualifiedServiceName("shop", "checkout"))
	assert.Equal(t, "checkout", QualifiedServiceName("", "checkout"))
	assert.Equal(t, "shop/checkout", QualifiedServiceNameOf(map[string]string{AttrServiceNamespace: "shop", AttrServiceName: "checkout"}))
	k := ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}
	assert.Equal(t, "shop/checkout", k.QualifiedName())
	assert.Equal(t, "shop/checkout@production", k.String())
	assert.Equal(t, "checkout@production", ServiceKey{Name: "checkout", Environment: "production"}.String())
}
