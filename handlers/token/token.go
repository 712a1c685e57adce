// Package token verifies and mints subscriber tokens: JWTs (RFC 7519) that
// grant their holder private topics. A token carries "exp" (required), a
// "subscribe" claim of topic patterns ("premium/*", "stocks/realtime/AAPL",
// the syntax of /events?topic=), and optionally "nbf" and "aud".
//
// Each key verifies one algorithm, the one its kind calls for: an HMAC
// secret HS256, an RSA public key RS256, a P-256 public key ES256. A token
// is checked only against keys of the algorithm its header names, so that
// neither "alg": "none" nor a public key used as an HMAC secret can pass
// (RFC 8725 §2.1, §3.1).
package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livefeed/feed"
)

// Leeway is the clock skew allowed between the issuer of a token and this
// server when checking "exp" and "nbf": RFC 7519 §4.1.4 allows "some small
// leeway, usually no more than a few minutes"; 30 seconds covers clocks
// kept by NTP and keeps an expired token from living on much longer.
const Leeway = 30 * time.Second

// MaxLen bounds a token: far more than a grant of 64 patterns takes, small
// enough that parsing a hostile one costs little.
const MaxLen = 8 << 10

// MinSecretLen is the shortest HMAC secret accepted: HS256 needs a key of
// at least the hash's size, 256 bits (RFC 7518 §3.2).
const MinSecretLen = 32

// Algorithms, one per kind of key.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

// key is one verification key and the one algorithm it verifies.
type key struct {
	id  string // "kid", from a JWKS file; "" when it has none
	alg string
	key any // []byte, *rsa.PublicKey or *ecdsa.PublicKey
}

// Keys verify subscriber tokens. The zero value verifies none.
type Keys struct {
	keys     []key
	audience string
	now      func() time.Time
	leeway   time.Duration
}

// Grant is what a valid subscriber token grants: its topics, until it
// expires.
type Grant struct {
	Topics  feed.Filter
	Expires time.Time // "exp"
}

// Reasons a token is refused, as an Invalid error's Reason.
const (
	ReasonMalformed   = "malformed"     // not a JWT, or claims of the wrong shape
	ReasonSignature   = "signature"     // no configured key verifies it: forged, or signed with a key not configured
	ReasonExpired     = "expired"       // "exp" has passed
	ReasonNotYetValid = "not_yet_valid" // "nbf" is still ahead
	ReasonAudience    = "audience"      // "aud" does not name this server
	ReasonClaims      = "claims"        // no "exp", or no valid "subscribe"
)

// Invalid is a refused token: why, in a word (Reason) and for a person
// (Message). It is of kind feed.ErrUnauthorized. The message never repeats
// the token.
type Invalid struct {
	Reason, Message string
}

func (e *Invalid) Error() string { return e.Message }

// Is makes errors.Is(err, feed.ErrUnauthorized) true.
func (e *Invalid) Is(target error) bool { return target == feed.ErrUnauthorized }

func invalid(reason, format string, args ...any) error {
	return &Invalid{Reason: reason, Message: "the subscriber token is not valid: " + fmt.Sprintf(format, args...)}
}

// ParseKeys reads the configured keys. Each entry is one of:
//
//   - a PEM block: an RSA or P-256 public key ("PUBLIC KEY", "RSA PUBLIC
//     KEY") or a certificate holding one;
//   - "file:" and a path: a PEM file as above, or a JWKS file (RFC 7517) of
//     RSA and P-256 keys ("kty" "RSA" or "EC", optional "kid", "alg" if
//     given RS256 or ES256);
//   - anything else: an HMAC secret (HS256) of at least MinSecretLen bytes.
//
// audience, if not empty, is what tokens must carry in "aud". readFile
// reads the files. Errors name the entry by its index and never repeat a
// secret.
func ParseKeys(entries []string, audience string, readFile func(string) ([]byte, error)) (*Keys, error) {
	k := &Keys{audience: audience, now: time.Now, leeway: Leeway}
	var errs []error
	for i, e := range entries {
		keys, err := parseEntry(e, readFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		k.keys = append(k.keys, keys...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

func parseEntry(e string, readFile func(string) ([]byte, error)) ([]key, error) {
	switch {
	case strings.HasPrefix(strings.TrimSpace(e), "-----BEGIN"):
		return parsePEM([]byte(e))
	case strings.HasPrefix(e, "file:"):
		path := strings.TrimPrefix(e, "file:")
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
			keys, err := parseJWKS(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return keys, nil
		}
		keys, err := parsePEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return keys, nil
	case len(e) < MinSecretLen:
		return nil, fmt.Errorf("an HMAC secret must have at least %d bytes (HS256, RFC 7518 §3.2), this one has %d; or give a PEM public key, or file:PATH of a PEM or JWKS file", MinSecretLen, len(e))
	}
	return []key{{alg: HS256, key: []byte(e)}}, nil
}

// parsePEM reads every public key or certificate in a PEM text.
func parsePEM(b []byte) ([]key, error) {
	var keys []key
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			// Never echo the block: it could be a private key.
			return nil, fmt.Errorf("a PEM block of type %q is not a public key: give the public key (PUBLIC KEY) or a certificate, never the private key", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
		}
		k, err := publicKey("", "", pub)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

// publicKey pins pub to the algorithm of its kind; alg, if given (a JWKS
// key's "alg"), must be that one.
func publicKey(id, alg string, pub any) (key, error) {
	k := key{id: id, key: pub}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return key{}, fmt.Errorf("an RSA key of %d bits is too short: RS256 needs at least 2048 (RFC 7518 §3.3)", p.N.BitLen())
		}
		k.alg = RS256
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("an EC key on %s: ES256 needs P-256", p.Curve.Params().Name)
		}
		k.alg = ES256
	default:
		return key{}, fmt.Errorf("a %T key: livefeed verifies RSA (RS256) and P-256 (ES256) public keys", pub)
	}
	if alg != "" && alg != k.alg {
		return key{}, fmt.Errorf("key %q has \"alg\" %q, but a key of its kind verifies %s", id, alg, k.alg)
	}
	return k, nil
}

// parseJWKS reads a JWK Set (RFC 7517 §5) of RSA and P-256 public keys.
func parseJWKS(b []byte) ([]key, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Use string
			N, E               string // RSA (RFC 7518 §6.3.1)
			Crv, X, Y          string // EC (RFC 7518 §6.2.1)
			D                  string // a private key's: refused
		}
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS file: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the JWKS file has no keys")
	}
	var keys []key
	for i, j := range set.Keys {
		if j.D != "" {
			return nil, fmt.Errorf("key %d is a private key: give the public keys only", i)
		}
		if j.Use != "" && j.Use != "sig" {
			continue // for encryption, not for signatures (RFC 7517 §4.2)
		}
		num := func(s string) (*big.Int, error) {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(b) == 0 {
				return nil, fmt.Errorf("key %d: a value is not base64url", i)
			}
			return new(big.Int).SetBytes(b), nil
		}
		var pub any
		switch j.Kty {
		case "RSA":
			n, err := num(j.N)
			if err != nil {
				return nil, err
			}
			e, err := num(j.E)
			if err != nil {
				return nil, err
			}
			if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
				return nil, fmt.Errorf("key %d: the RSA exponent is out of range", i)
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			if j.Crv != "P-256" {
				return nil, fmt.Errorf("key %d: curve %q; ES256 needs P-256", i, j.Crv)
			}
			x, err := num(j.X)
			if err != nil {
				return nil, err
			}
			y, err := num(j.Y)
			if err != nil {
				return nil, err
			}
			// The point must be on the curve: ParseUncompressedPublicKey checks it.
			raw := append([]byte{4}, append(x.FillBytes(make([]byte, 32)), y.FillBytes(make([]byte, 32))...)...)
			p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
			if err != nil {
				return nil, fmt.Errorf("key %d: not a point of P-256", i)
			}
			pub = p
		default:
			return nil, fmt.Errorf("key %d: \"kty\" %q; livefeed verifies RSA and EC keys", i, j.Kty)
		}
		k, err := publicKey(j.Kid, j.Alg, pub)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS file has no signature keys")
	}
	return keys, nil
}

// Len returns the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// CanMint reports whether there is an HMAC key to mint tokens with.
func (k *Keys) CanMint() bool { return k.secret() != nil }

func (k *Keys) secret() []byte {
	if k == nil {
		return nil
	}
	for _, key := range k.keys {
		if key.alg == HS256 {
			return key.key.([]byte)
		}
	}
	return nil
}

// claims are a subscriber token's claims.
type claims struct {
	jwt.RegisteredClaims
	Subscribe []string `json:"subscribe"`
}

// Verify checks a token and returns what it grants. A refused token is an
// *Invalid error.
func (k *Keys) Verify(raw string) (Grant, error) {
	if k.Len() == 0 {
		return Grant{}, invalid(ReasonSignature, "this server has no subscriber keys (auth.subscriber_keys) to verify it with")
	}
	if len(raw) > MaxLen {
		return Grant{}, invalid(ReasonMalformed, "it is longer than %d bytes", MaxLen)
	}
	var algs []string
	for _, key := range k.keys {
		if !strings.Contains(strings.Join(algs, " "), key.alg) {
			algs = append(algs, key.alg)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs), // never "none", never an algorithm no key is for
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(k.leeway),
		jwt.WithTimeFunc(k.now),
		jwt.WithStrictDecoding(),
	}
	if k.audience != "" {
		opts = append(opts, jwt.WithAudience(k.audience))
	}
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, k.candidates, opts...)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, invalid(ReasonExpired, "it has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Grant{}, invalid(ReasonNotYetValid, "it is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return Grant{}, invalid(ReasonAudience, "it is not for this server (aud must hold %q)", k.audience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt != nil:
		return Grant{}, invalid(ReasonAudience, "it names no audience (aud must hold %q)", k.audience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return Grant{}, invalid(ReasonClaims, "it has no expiry (exp)")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Grant{}, invalid(ReasonSignature, "no configured key verifies its signature")
	default:
		return Grant{}, invalid(ReasonMalformed, "it is not a JWT of the expected form (header.claims.signature, base64url, with a \"subscribe\" array of topic patterns)")
	}
	// RFC 7519 §4.1.3: a token whose "aud" does not name the server must
	// be refused, so one with an audience is refused when none is set.
	if k.audience == "" && len(c.Audience) > 0 {
		return Grant{}, invalid(ReasonAudience, "it names an audience (aud), and this server has none (auth.subscriber_audience)")
	}
	if len(c.Subscribe) == 0 {
		return Grant{}, invalid(ReasonClaims, "it has no \"subscribe\" claim of topic patterns")
	}
	topics, err := feed.ParseFilter(c.Subscribe)
	if err != nil {
		return Grant{}, invalid(ReasonClaims, "its \"subscribe\" claim: %v", err)
	}
	return Grant{Topics: topics, Expires: c.ExpiresAt.Time}, nil
}

// candidates returns the keys of the algorithm the token's header names.
// A "kid" naming configured keys narrows them to those; one naming none
// (a key since retired from a JWKS, or an issuer's own naming) leaves all
// of the algorithm to try.
func (k *Keys) candidates(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	known := false
	for _, key := range k.keys {
		known = known || kid != "" && key.id == kid
	}
	var set jwt.VerificationKeySet
	for _, key := range k.keys {
		if key.alg == alg && (!known || key.id == kid) {
			set.Keys = append(set.Keys, key.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no %s key", alg)
	}
	return set, nil
}

// Mint returns a token granting patterns for ttl, signed with the first
// HMAC key (HS256); audience, if not empty, goes in "aud".
func (k *Keys) Mint(patterns []string, ttl time.Duration, audience string) (string, error) {
	secret := k.secret()
	if secret == nil {
		return "", errors.New("no HMAC secret among auth.subscriber_keys to sign with (public keys only verify)")
	}
	if _, err := feed.ParseFilter(patterns); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", errors.New("the lifetime must be positive")
	}
	now := k.now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Subscribe: patterns,
	}
	if audience != "" {
		c.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// Leeway returns the clock skew k allows (Leeway unless set otherwise).
func (k *Keys) Leeway() time.Duration {
	if k == nil {
		return 0
	}
	return k.leeway
}

// WithLeeway returns a copy of k allowing d of clock skew: for tests that
// see tokens expire in seconds.
func (k *Keys) WithLeeway(d time.Duration) *Keys {
	c := *k
	c.leeway = d
	return &c
}

// WithClock returns a copy of k that takes the time from now, for tests.
func (k *Keys) WithClock(now func() time.Time) *Keys {
	c := *k
	c.now = now
	return &c
}
