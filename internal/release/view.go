package release

// ServiceView is the read-only, hot-path view of one service in one
// environment: what the correlation processor needs to stamp and compare.
// The store builds views and never changes one once published, so readers
// hold them without locks.
type ServiceView struct {
	Service ServiceKey
	// Keys are the service's release keys, most specific scope first; the
	// unscoped key, if any, is last.
	Keys []KeyView
}

// ScopeAttr is one attribute a scoped key requires of a resource.
type ScopeAttr struct{ Name, Value string }

// KeyView is one release key's current state.
type KeyView struct {
	Scope []ScopeAttr
	// ScopeKey is the canonical form of Scope ("k=v,k2=v2"; empty when the
	// key covers the whole environment).
	ScopeKey string
	// Active is the newest live release: the candidate while it rolls out,
	// the stable version afterwards. Nil when nothing is live.
	Active *Release
	// Previous is the newest earlier release of another version: the
	// version Active replaced.
	Previous *Release
	// Control is Previous while it is still live next to an Active that is
	// rolling out (canary, blue-green, rolling); nil otherwise.
	Control *Release
}
