package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"time"
)

// issuer is a minimal OAuth authorization server for the JWT scenario: it
// serves its RFC 8414 metadata and a JWKS with one RSA key, and signs RS256
// access tokens with it. It is written with the standard library only (the
// front door verifies its tokens with the libraries package authn uses),
// and package authntest is for tests.
type issuer struct {
	url string
	key *rsa.PrivateKey
}

// issuerKID names the issuer's only key.
const issuerKID = "bench-rs256"

func newIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &issuer{key: key}, nil
}

func (is *issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var doc any
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration":
		doc = map[string]any{"issuer": is.url, "jwks_uri": is.url + "/jwks"}
	case "/jwks":
		pub := is.key.PublicKey
		doc = map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": issuerKID, "alg": "RS256", "use": "sig",
			"n": b64(pub.N.Bytes()),
			"e": b64(big.NewInt(int64(pub.E)).Bytes()),
		}}}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// token signs an RS256 access token for audience, valid for an hour.
func (is *issuer) token(audience, subject string) (string, error) {
	now := time.Now()
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": issuerKID})
	claims, _ := json.Marshal(map[string]any{
		"iss": is.url, "aud": audience, "sub": subject, "scope": "mcp",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	signing := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
