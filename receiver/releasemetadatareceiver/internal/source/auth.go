package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// verifyHexHMAC checks a "sha256=<hex>" header value against
// HMAC-SHA256(secret, body) in constant time.
func verifyHexHMAC(header string, secret, body []byte) error {
	if header == "" {
		return unauthorized("signature header is missing")
	}
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return unauthorized("signature must have the form sha256=<hex>")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return unauthorized("signature is not hexadecimal")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("signature does not match the body")
	}
	return nil
}

// SignHexHMAC returns the "sha256=<hex>" signature of body; tests and
// clients use it.
func SignHexHMAC(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// equalToken compares a presented token with the secret in constant time,
// hashing both first so that not even the length leaks.
func equalToken(presented string, secret []byte) bool {
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// authenticateBearerOrHMAC accepts either "Authorization: Bearer <secret>" or
// an "X-Signature-256: sha256=<hex HMAC of the body>" header: the forms that
// generic webhook senders (CI scripts, Argo CD, CDEvents brokers) can produce.
func authenticateBearerOrHMAC(d *Delivery, secret []byte) error {
	if sig := d.Header.Get("X-Signature-256"); sig != "" {
		return verifyHexHMAC(sig, secret, d.Body)
	}
	auth := d.Header.Get("Authorization")
	if auth == "" {
		return unauthorized("no Authorization: Bearer token and no X-Signature-256 header")
	}
	token, ok := bearerToken(auth)
	if !ok {
		return unauthorized("Authorization header is not a Bearer token")
	}
	if !equalToken(token, secret) {
		return unauthorized("bearer token does not match")
	}
	return nil
}
