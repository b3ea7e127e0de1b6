package source

import "github.com/otelcol-release/otelcol-release/internal/release"

func init() {
	Register(Definition{
		Name:       "native",
		Path:       "/v1/events",
		MediaTypes: []string{"application/json"},
		New:        func() Source { return nativeSource{} },
	})
}

// nativeSource accepts the product's own deploy-event document.
type nativeSource struct{}

func (nativeSource) Authenticate(d *Delivery, secret []byte) error {
	return authenticateBearerOrHMAC(d, secret)
}

func (nativeSource) Parse(d *Delivery) ([]release.Event, error) {
	events, err := release.DecodeNative(d.Body)
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].ReceivedAt = d.ReceivedAt
	}
	return events, nil
}
