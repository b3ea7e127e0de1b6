package release

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCanonicalScope(t *testing.T) {
	assert.Equal(t, "", CanonicalScope(nil))
	assert.Equal(t, "", CanonicalScope(map[string]string{}))
	assert.Equal(t, "k8s.cluster.name=eu-1", CanonicalScope(map[string]string{"k8s.cluster.name": "eu-1"}))
	// Sorted by key whatever the insertion order.
	for i := 0; i < 20; i++ {
		assert.Equal(t, "a=1,b=2,cloud.region=eu-west-1,k8s.cluster.name=eu-1",
			CanonicalScope(map[string]string{"k8s.cluster.name": "eu-1", "b": "2", "cloud.region": "eu-west-1", "a": "1"}))
	}
	assert.Equal(t, "k=", CanonicalScope(map[string]string{"k": ""}))
}

func TestParseScope(t *testing.T) {
	assert.Nil(t, ParseScope(""))
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, ParseScope("a=1,b=2"))
	assert.Equal(t, map[string]string{"label": "tier=web"}, ParseScope("label=tier=web"))
	assert.Equal(t, map[string]string{"k": ""}, ParseScope("k"))
}

func TestScopeRoundTrip(t *testing.T) {
	for _, scope := range []map[string]string{
		{"k8s.cluster.name": "eu-1"},
		{"k8s.cluster.name": "eu-1", "cloud.region": "eu-west-1", "k8s.namespace.name": "shop"},
		{"label": "tier=web", "a": "b"},
		{"k": ""},
		{"ünïcode": "välue"},
	} {
		s := CanonicalScope(scope)
		assert.Equal(t, scope, ParseScope(s), "scope %q", s)
		assert.Equal(t, s, CanonicalScope(ParseScope(s)))
	}
	for _, s := range []string{"a=1", "a=1,b=2,c=3", "x=y=z"} {
		assert.Equal(t, s, CanonicalScope(ParseScope(s)))
	}
}

func TestKey(t *testing.T) {
	e := validEvent()
	e.Attributes[AttrServiceNamespace] = "shop"
	assert.Equal(t, Key{Service: ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}}, e.Key())
	assert.Equal(t, "shop/checkout@production", e.Key().String())

	delete(e.Attributes, AttrServiceNamespace)
	assert.Equal(t, "checkout@production", e.Key().String())

	e.Release.Scope = map[string]string{"k8s.cluster.name": "eu-1", "cloud.region": "eu-west-1"}
	assert.Equal(t, Key{
		Service: ServiceKey{Name: "checkout", Environment: "production"},
		Scope:   "cloud.region=eu-west-1,k8s.cluster.name=eu-1",
	}, e.Key())
	assert.Equal(t, "checkout@production[cloud.region=eu-west-1,k8s.cluster.name=eu-1]", e.Key().String())

	// Keys are comparable map keys; the version is not part of the key.
	other := validEvent()
	other.Attributes[AttrServiceVersion] = "v2"
	other.Release.Scope = map[string]string{"cloud.region": "eu-west-1", "k8s.cluster.name": "eu-1"}
	m := map[Key]int{e.Key(): 1}
	assert.Equal(t, 1, m[other.Key()])

	other.Attributes[AttrDeploymentEnvironment] = "staging"
	assert.NotEqual(t, e.Key(), other.Key())
	other = validEvent()
	assert.NotEqual(t, e.Key(), other.Key(), "scoped and unscoped keys differ")
}

func TestServiceKeyString(t *testing.T) {
	assert.Equal(t, "checkout@production", ServiceKey{Name: "checkout", Environment: "production"}.String())
	assert.Equal(t, "shop/checkout@production", ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}.String())
	assert.Equal(t, "@", ServiceKey{}.String())
}
