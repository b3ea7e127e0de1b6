// Package source holds one parser per CI/CD system. Each file registers a
// Definition in init(); adding a source is adding a file.
package source

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Delivery is one HTTP request as received, body already read and bounded.
type Delivery struct {
	Header     http.Header
	Body       []byte
	ReceivedAt time.Time
	// Warnings are the optional fields the source could not read and
	// dropped; the delivery's events are kept without them.
	Warnings []*release.FieldError
}

// drop records an optional field that cannot be read: the event is kept
// without it and the reply names the field and the rule it broke. Only
// required fields refuse a delivery. err is a *release.FieldError; anything
// else is reported against the body.
func (d *Delivery) drop(err error) {
	fe, ok := release.AsFieldError(err)
	if !ok {
		fe = release.Fieldf("body", release.RuleSyntax, "%v", err)
	}
	d.Warnings = append(d.Warnings, fe)
}

// Source maps one CI/CD system's webhook deliveries to deploy events.
type Source interface {
	// Authenticate checks the delivery's signature or token against the
	// configured secret. It is only called when a secret is configured; an
	// error (wrapping ErrUnauthorized) is answered 401 and nothing is stored.
	Authenticate(d *Delivery, secret []byte) error
	// Parse maps the delivery to deploy events. It sets Source, ID (the
	// delivery's idempotency key) and whatever the payload says of time,
	// attributes and release context; Gates.Normalize then checks content.
	// Malformed input returns a *release.FieldError; a well-formed delivery
	// that is not about a deployment returns an *Ignored error.
	Parse(d *Delivery) ([]release.Event, error)
}

// Definition registers a source.
type Definition struct {
	// Name is the key under `sources:` in the receiver config.
	Name string
	// Path is the HTTP path the source is served on.
	Path string
	// MediaTypes are the accepted Content-Type media types; others get 415.
	MediaTypes []string
	New        func() Source
}

var registry = map[string]Definition{}

// Register adds a source; it panics on a duplicate name or path, which is a
// programming error caught by any test.
func Register(def Definition) {
	if _, dup := registry[def.Name]; dup {
		panic("source: duplicate name " + def.Name)
	}
	for _, d := range registry {
		if d.Path == def.Path {
			panic("source: duplicate path " + def.Path)
		}
	}
	registry[def.Name] = def
}

// Definitions lists the registered sources by name.
func Definitions() []Definition {
	out := make([]Definition, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns a registered source by name.
func Lookup(name string) (Definition, bool) {
	d, ok := registry[name]
	return d, ok
}

// ErrUnauthorized is wrapped by every authentication failure.
var ErrUnauthorized = errors.New("unauthorized")

func unauthorized(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, args...))
}

// Ignored says a delivery was understood but carries no deploy event (a
// "pending" status, an unrelated event type). It is answered 200, not stored.
type Ignored struct{ Reason string }

func (i *Ignored) Error() string { return "ignored: " + i.Reason }

func ignored(format string, args ...any) error {
	return &Ignored{Reason: fmt.Sprintf(format, args...)}
}
