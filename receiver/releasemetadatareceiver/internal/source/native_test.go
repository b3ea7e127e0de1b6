package source

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const nativeTestSecret = "s3cr3t-token"

const nativeTestBody = `{
  "id": "deploy-4711",
  "type": "started",
  "time": "2026-11-24T10:00:00Z",
  "attributes": {
    "service.name": "checkout",
    "service.namespace": "shop",
    "service.version": "v1.4.2",
    "deployment.environment.name": "production",
    "vcs.ref.head.revision": "9f2c1e7",
    "vcs.repository.url.full": "https://github.com/acme/checkout",
    "cicd.pipeline.run.id": "8812"
  },
  "release": {
    "previous_version": "v1.4.1",
    "strategy": "canary",
    "rollout_percentage": 10,
    "feature_flags": [{"key": "new-pricing", "variant": "on"}],
    "intent": "move cart pricing to the new engine",
    "risk": "high",
    "owner": "team-payments",
    "scope": {"k8s.cluster.name": "eu-1"}
  }
}`

var nativeTestReceivedAt = time.Date(2026, 11, 24, 10, 0, 3, 0, time.UTC)

func nativeTestSource(t *testing.T) Source {
	t.Helper()
	def, ok := Lookup("native")
	require.True(t, ok, "native source is registered")
	require.NotNil(t, def.New)
	src := def.New()
	require.NotNil(t, src)
	return src
}

func nativeDelivery(body string, header map[string]string) *Delivery {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return &Delivery{Header: h, Body: []byte(body), ReceivedAt: nativeTestReceivedAt}
}

func nativeRequireUnauthorized(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUnauthorized), "error %v does not wrap ErrUnauthorized", err)
}

func TestNativeDefinition(t *testing.T) {
	def, ok := Lookup("native")
	require.True(t, ok)
	assert.Equal(t, "native", def.Name)
	assert.Equal(t, "/v1/events", def.Path)
	assert.Equal(t, []string{"application/json"}, def.MediaTypes)

	var found bool
	for _, d := range Definitions() {
		if d.Name == "native" {
			found = true
		}
	}
	assert.True(t, found, "native is listed by Definitions")
}

func TestNativeAuthenticateBearer(t *testing.T) {
	src := nativeTestSource(t)
	secret := []byte(nativeTestSecret)

	for _, header := range []string{
		"Bearer " + nativeTestSecret,
		"bearer " + nativeTestSecret,
		"BEARER " + nativeTestSecret,
		"Bearer  " + nativeTestSecret + " ",
	} {
		assert.NoError(t, src.Authenticate(nativeDelivery(nativeTestBody, map[string]string{"Authorization": header}), secret), header)
	}

	for name, header := range map[string]map[string]string{
		"missing":          nil,
		"empty":            {"Authorization": ""},
		"wrong token":      {"Authorization": "Bearer not-the-secret"},
		"prefix of token":  {"Authorization": "Bearer " + nativeTestSecret[:len(nativeTestSecret)-1]},
		"token plus extra": {"Authorization": "Bearer " + nativeTestSecret + "x"},
		"empty token":      {"Authorization": "Bearer "},
		"scheme only":      {"Authorization": "Bearer"},
		"basic scheme":     {"Authorization": "Basic " + nativeTestSecret},
		"token scheme":     {"Authorization": "Token " + nativeTestSecret},
		"no scheme":        {"Authorization": nativeTestSecret},
		"other header":     {"X-Gitlab-Token": nativeTestSecret},
	} {
		t.Run(name, func(t *testing.T) {
			nativeRequireUnauthorized(t, src.Authenticate(nativeDelivery(nativeTestBody, header), secret))
		})
	}
}

func TestNativeAuthenticateSignature(t *testing.T) {
	src := nativeTestSource(t)
	secret := []byte(nativeTestSecret)
	sig := SignHexHMAC(secret, []byte(nativeTestBody))
	require.True(t, strings.HasPrefix(sig, "sha256="))
	require.Len(t, sig, len("sha256=")+64)

	assert.NoError(t, src.Authenticate(nativeDelivery(nativeTestBody, map[string]string{"X-Signature-256": sig}), secret))
	// The header name is case-insensitive on the wire.
	d := &Delivery{Header: http.Header{}, Body: []byte(nativeTestBody), ReceivedAt: nativeTestReceivedAt}
	d.Header.Set("x-signature-256", sig)
	assert.NoError(t, src.Authenticate(d, secret))

	tampered := strings.Replace(nativeTestBody, `"rollout_percentage": 10`, `"rollout_percentage": 100`, 1)
	require.NotEqual(t, nativeTestBody, tampered)
	wrongSecret := SignHexHMAC([]byte("other-secret"), []byte(nativeTestBody))
	flipped := sig[:len(sig)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[len(sig)-1])+1)%16])

	for name, tc := range map[string]struct{ body, sig string }{
		"tampered body":         {tampered, sig},
		"body with extra space": {nativeTestBody + " ", sig},
		"wrong secret":          {nativeTestBody, wrongSecret},
		"one hex digit off":     {nativeTestBody, flipped},
		"truncated":             {nativeTestBody, sig[:len(sig)-2]},
		"no prefix":             {nativeTestBody, strings.TrimPrefix(sig, "sha256=")},
		"sha1 prefix":           {nativeTestBody, "sha1=" + strings.TrimPrefix(sig, "sha256=")},
		"not hex":               {nativeTestBody, "sha256=zz" + sig[9:]},
		"empty digest":          {nativeTestBody, "sha256="},
	} {
		t.Run(name, func(t *testing.T) {
			nativeRequireUnauthorized(t, src.Authenticate(nativeDelivery(tc.body, map[string]string{"X-Signature-256": tc.sig}), secret))
		})
	}

	// A signature of the tampered body verifies the tampered body only.
	tamperedSig := SignHexHMAC(secret, []byte(tampered))
	assert.NoError(t, src.Authenticate(nativeDelivery(tampered, map[string]string{"X-Signature-256": tamperedSig}), secret))
	nativeRequireUnauthorized(t, src.Authenticate(nativeDelivery(nativeTestBody, map[string]string{"X-Signature-256": tamperedSig}), secret))
}

// When a signature header is present it decides, even if a valid bearer
// token is also sent.
func TestNativeAuthenticateSignatureTakesPrecedence(t *testing.T) {
	src := nativeTestSource(t)
	secret := []byte(nativeTestSecret)
	d := nativeDelivery(nativeTestBody, map[string]string{
		"Authorization":   "Bearer " + nativeTestSecret,
		"X-Signature-256": SignHexHMAC([]byte("other"), []byte(nativeTestBody)),
	})
	nativeRequireUnauthorized(t, src.Authenticate(d, secret))

	d = nativeDelivery(nativeTestBody, map[string]string{
		"Authorization":   "Bearer wrong",
		"X-Signature-256": SignHexHMAC(secret, []byte(nativeTestBody)),
	})
	assert.NoError(t, src.Authenticate(d, secret))
}

func TestNativeSignHexHMACVector(t *testing.T) {
	// The public GitHub test vector for the same construction.
	assert.Equal(t, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		SignHexHMAC([]byte("It's a Secret to Everybody"), []byte("Hello, World!")))
}

func TestNativeParse(t *testing.T) {
	src := nativeTestSource(t)
	events, err := src.Parse(nativeDelivery(nativeTestBody, nil))
	require.NoError(t, err)
	require.Len(t, events, 1)
	ev := events[0]
	assert.Equal(t, "native", ev.Source)
	assert.Equal(t, nativeTestReceivedAt, ev.ReceivedAt)
	assert.Equal(t, "deploy-4711", ev.ID)
	assert.Equal(t, release.EventStarted, ev.Type)
	assert.True(t, ev.Time.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), "time %s", ev.Time)
	assert.Equal(t, "checkout", ev.Attr(release.AttrServiceName))
	assert.Equal(t, "v1.4.2", ev.Attr(release.AttrServiceVersion))
	assert.Equal(t, "production", ev.Attr(release.AttrDeploymentEnvironment))
	assert.Len(t, ev.Attributes, 7)
	require.NotNil(t, ev.Release.RolloutPercentage)
	assert.Equal(t, 10.0, *ev.Release.RolloutPercentage)
	assert.Equal(t, map[string]string{"k8s.cluster.name": "eu-1"}, ev.Release.Scope)

	// The parsed event passes the gates unchanged in identity.
	g := release.Gates{MaxFutureSkew: time.Minute, EnvironmentAliases: release.DefaultEnvironmentAliases()}
	require.NoError(t, g.Normalize(&ev))
	assert.Equal(t, nativeTestReceivedAt, ev.ReceivedAt)
	assert.Equal(t, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), ev.Time)
}

func TestNativeParseBatchSetsReceivedAtOnEveryEvent(t *testing.T) {
	src := nativeTestSource(t)
	body := `[
	  {"id":"a","type":"started","attributes":{"service.name":"s","service.version":"1","deployment.environment.name":"prod"}},
	  {"id":"a","type":"progressed","release":{"rollout_percentage":50}},
	  {"id":"a","type":"succeeded","time":"2026-11-24T09:00:00Z"}
	]`
	events, err := src.Parse(nativeDelivery(body, nil))
	require.NoError(t, err)
	require.Len(t, events, 3)
	for i, ev := range events {
		assert.Equal(t, "native", ev.Source, "event %d", i)
		assert.Equal(t, nativeTestReceivedAt, ev.ReceivedAt, "event %d", i)
		assert.Equal(t, "a", ev.ID, "event %d", i)
	}
	assert.Equal(t, []release.EventType{release.EventStarted, release.EventProgressed, release.EventSucceeded},
		[]release.EventType{events[0].Type, events[1].Type, events[2].Type})
	assert.True(t, events[0].Time.IsZero(), "Parse leaves a missing time for Normalize")
	assert.True(t, events[2].Time.Equal(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)))
}

func TestNativeParseErrors(t *testing.T) {
	src := nativeTestSource(t)
	for name, tc := range map[string]struct{ body, field, rule string }{
		"empty":         {"", "body", release.RuleRequired},
		"empty array":   {"[]", "body", release.RuleRequired},
		"syntax":        {`{"id":`, "body", release.RuleSyntax},
		"unknown field": {`{"id":"a","sevrice":"x"}`, "sevrice", release.RuleUnmapped},
		"wrong type":    {`{"release":{"rollout_percentage":"10"}}`, "release.rollout_percentage", release.RuleType},
		"bad time":      {`{"time":"24.11.2026"}`, "time", release.RuleFormat},
		"object attr":   {`{"attributes":{"service.name":{}}}`, "attributes.service.name", release.RuleType},
	} {
		t.Run(name, func(t *testing.T) {
			events, err := src.Parse(nativeDelivery(tc.body, nil))
			assert.Nil(t, events)
			require.Error(t, err)
			fe, ok := release.AsFieldError(err)
			require.True(t, ok, "error %v (%T) is not a FieldError", err, err)
			assert.Equal(t, tc.field, fe.Field)
			assert.Equal(t, tc.rule, fe.Rule)
			var ign *Ignored
			assert.False(t, errors.As(err, &ign))
			assert.False(t, errors.Is(err, ErrUnauthorized))
		})
	}
}
