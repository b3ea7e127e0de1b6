package release

import "strings"

// ServiceKey identifies a service in an environment. It is comparable and
// holds only strings, so a hot-path lookup builds it on the stack.
type ServiceKey struct {
	Namespace   string `json:"service.namespace,omitempty"`
	Name        string `json:"service.name"`
	Environment string `json:"deployment.environment.name"`
}

func (k ServiceKey) String() string {
	return k.QualifiedName() + "@" + k.Environment
}

// QualifiedServiceName is how a service is named to people and matched by
// the services patterns of policies and targets: "namespace/name", or the
// name alone when the service has no namespace.
func QualifiedServiceName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// QualifiedServiceNameOf is QualifiedServiceName of attributes: an event's,
// a release's or a decision's.
func QualifiedServiceNameOf(attrs map[string]string) string {
	return QualifiedServiceName(attrs[AttrServiceNamespace], attrs[AttrServiceName])
}

// QualifiedName is the key's QualifiedServiceName.
func (k ServiceKey) QualifiedName() string { return QualifiedServiceName(k.Namespace, k.Name) }

// Key is what the store keeps a release history for: a service in an
// environment, optionally narrowed by a scope such as k8s.cluster.name.
type Key struct {
	Service ServiceKey
	// Scope is CanonicalScope of the release's scope: "k=v" pairs sorted by key
	// and joined by ",". Empty means the whole environment.
	Scope string
}

func (k Key) String() string {
	if k.Scope == "" {
		return k.Service.String()
	}
	return k.Service.String() + "[" + k.Scope + "]"
}

// CanonicalScope renders a scope map as the stable string used in keys.
func CanonicalScope(scope map[string]string) string {
	if len(scope) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range sortedKeys(scope) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(scope[k])
	}
	return b.String()
}

// ParseScope is the inverse of CanonicalScope.
func ParseScope(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(pair, "=")
		m[k] = v
	}
	return m
}
