// Package token verifies and mints subscriber tokens: JWTs (RFC 7519) that
// grant their holder private topics. A token carries "exp" (required), a
// "subscribe" claim of topic patterns ("premium/*", "stocks/realtime/AAPL",
// the syntax of /events?topic=), and optionally "nbf" and "aud". It may
// also carry "realtime", topic patterns whose delayed tiers do not apply to
// its holder (a paying subscriber sees them live), and "conflate", the
// shortest interval ("1s") at which its holder gets events of a topic (a
// free tier at most one update a second). A token needs "subscribe" or
// "realtime", or both.
//
// Tokens are read strictly, so that no two readers of one token can
// disagree on what it grants: a header naming critical extensions ("crit")
// is refused, as RFC 7515 §4.1.11 requires of a recipient that implements
// none; a name given twice in the header or the claims is refused (RFC
// 7519 §4); a claim this package reads ("exp", "subscribe", ...) written
// in another letter case ("EXP", "Subscribe") is refused rather than taken
// for it, as Go's JSON decoding would; "exp", "nbf" and "iat" must be
// numbers, not strings holding one. A token must expire within the keys'
// maximum lifetime, so that none outlives what the server allows.
//
// Each key verifies one algorithm, the one its kind calls for: an HMAC
// secret HS256, an RSA public key RS256, a P-256 public key ES256. A token
// is checked only against keys of the algorithm its header names, so that
// neither "alg": "none" nor a public key used as an HMAC secret can pass
// (RFC 8725 §2.1, §3.1).
package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
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

// DefaultMaxLifetime is how far ahead a token's "exp" may be, unless set
// otherwise (WithMaxLifetime): a stream lives as long as its token, and a
// token that an issuer can no longer take back should not outlive a day.
const DefaultMaxLifetime = 24 * time.Hour

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
	// fingerprint identifies the key by its algorithm and material (see
	// Grant.Key): the same key read again has the same one.
	fingerprint string
}

// Keys verify subscriber tokens. The zero value verifies none.
type Keys struct {
	keys        []key
	audience    string
	now         func() time.Time
	leeway      time.Duration
	maxLifetime time.Duration
}

// Grant is what a valid subscriber token grants: its topics, until it
// expires.
type Grant struct {
	Topics  feed.Filter
	Expires time.Time // "exp"
	// Key identifies the key that verified the token: while Keys.Holds
	// it, the token stays good; once a new set of keys no longer holds
	// it, what the token opened is to end.
	Key string
	// Subject and Session are the token's "sub" and "sid" (OpenID
	// Connect's session ID), if any: whom it was issued to, and for which
	// sign-in (see MintSession).
	Subject, Session string
	// Realtime are the topics whose delayed tiers do not apply to the
	// holder ("realtime"; the zero Filter: none).
	Realtime feed.Filter
	// Conflate is the shortest interval at which the holder gets events
	// of a topic ("conflate"; 0: every event).
	Conflate time.Duration
}

// Reasons a token is refused, as an Invalid error's Reason.
const (
	ReasonMalformed   = "malformed"     // not a JWT, or claims of the wrong shape
	ReasonSignature   = "signature"     // no configured key verifies it: forged, or signed with a key not configured
	ReasonExpired     = "expired"       // "exp" has passed
	ReasonNotYetValid = "not_yet_valid" // "nbf" is still ahead
	ReasonAudience    = "audience"      // "aud" does not name this server
	ReasonClaims      = "claims"        // no "exp", or no valid "subscribe"
	ReasonLifetime    = "lifetime"      // "exp" is further ahead than the maximum lifetime
	// ReasonRevoked: the token was good, but what it was issued on has
	// been taken back since (a key removed, a session signed out). This
	// package does not decide it; the server that keeps those does.
	ReasonRevoked = "revoked"
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
	k := &Keys{audience: audience, now: time.Now, leeway: Leeway, maxLifetime: DefaultMaxLifetime}
	var errs []error
	for i, e := range entries {
		keys, err := parseEntry(e, readFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
			continue
		}
		for _, key := range keys {
			key.fingerprint = fingerprint(key)
			k.keys = append(k.keys, key)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// fingerprint names a key by a digest of its algorithm and material: it
// never reveals an HMAC secret, and two readings of one key (a secret, or
// a public key from a PEM or a JWKS file) give the same name.
func fingerprint(k key) string {
	h := sha256.New()
	h.Write([]byte(k.alg + "\x00"))
	switch v := k.key.(type) {
	case []byte:
		h.Write(v)
	default:
		der, _ := x509.MarshalPKIXPublicKey(v) // a key parsePEM or parseJWKS made: RSA or P-256
		h.Write(der)
	}
	return k.alg + ":" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
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
	Subscribe []string `json:"subscribe,omitempty"`
	Session   string   `json:"sid,omitempty"`
	Realtime  []string `json:"realtime,omitempty"`
	Conflate  string   `json:"conflate,omitempty"`
}

// claimNames are the claims Verify reads. Go's JSON decoding would take
// any of them written in another letter case for it, and the last of
// several for all: checkShape refuses both.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "subscribe", "sid", "realtime", "conflate"}

// Verify checks a token and returns what it grants. A refused token is an
// *Invalid error.
func (k *Keys) Verify(raw string) (Grant, error) {
	if k.Len() == 0 {
		return Grant{}, invalid(ReasonSignature, "this server has no subscriber keys (auth.subscriber_keys) to verify it with")
	}
	if len(raw) > MaxLen {
		return Grant{}, invalid(ReasonMalformed, "it is longer than %d bytes", MaxLen)
	}
	if err := k.checkShape(raw); err != nil {
		return Grant{}, err
	}
	var algs []string
	for _, key := range k.keys {
		if !slices.Contains(algs, key.alg) {
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
	var used *key
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		var err error
		used, err = k.verifier(t)
		if err != nil {
			return nil, err
		}
		return used.key, nil
	}, opts...)
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
	if len(c.Subscribe) == 0 && len(c.Realtime) == 0 {
		return Grant{}, invalid(ReasonClaims, "it has no \"subscribe\" claim of topic patterns (nor a \"realtime\" one)")
	}
	g := Grant{Expires: c.ExpiresAt.Time, Key: used.fingerprint, Subject: c.Subject, Session: c.Session}
	if len(c.Subscribe) > 0 {
		if g.Topics, err = feed.ParseFilter(c.Subscribe); err != nil {
			return Grant{}, invalid(ReasonClaims, "its \"subscribe\" claim: %v", err)
		}
	}
	if len(c.Realtime) > 0 {
		if g.Realtime, err = feed.ParseFilter(c.Realtime); err != nil {
			return Grant{}, invalid(ReasonClaims, "its \"realtime\" claim: %v", err)
		}
	}
	if c.Conflate != "" {
		if g.Conflate, err = feed.ParseConflate(c.Conflate); err != nil {
			return Grant{}, invalid(ReasonClaims, "its \"conflate\" claim: %v", err)
		}
	}
	return g, nil
}

// checkShape refuses a token the JWT library would read leniently, or
// otherwise than other readers of it would (see the package comment), and
// one that expires beyond the maximum lifetime. It reads the token's form
// only, which tells nothing of the keys, so it goes before the signature:
// a huge "exp" is then refused for its lifetime rather than, wrapped
// around by a conversion, reported as expired.
func (k *Keys) checkShape(raw string) error {
	head, rest, _ := strings.Cut(raw, ".")
	body, _, _ := strings.Cut(rest, ".")
	header, err := members(head)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(header))
	for _, m := range header {
		switch {
		case seen[m.name]:
			return invalid(ReasonMalformed, "its header has %q twice", m.name)
		case m.name == "crit":
			// RFC 7515 §4.1.11: extensions listed in "crit" must be
			// understood, and this server implements none.
			return invalid(ReasonMalformed, "its header names critical extensions (crit), which this server does not implement (RFC 7515 §4.1.11)")
		}
		seen[m.name] = true
	}
	claims, err := members(body)
	if err != nil {
		return err
	}
	clear(seen)
	for _, m := range claims {
		if seen[m.name] {
			return invalid(ReasonMalformed, "it has the claim %q twice (RFC 7519 §4)", m.name)
		}
		seen[m.name] = true
		for _, want := range claimNames {
			if m.name != want && strings.EqualFold(m.name, want) {
				return invalid(ReasonMalformed, "it has a claim %q, which is not %q: claim names are case-sensitive (RFC 7519 §4)", m.name, want)
			}
		}
		switch m.name {
		case "subscribe", "realtime":
			// Present, a claim of patterns is a non-empty array of
			// strings: not one string, not null, not empty, which a
			// reader could take for "none" or "any".
			var patterns []string
			if json.Unmarshal(m.value, &patterns) != nil || patterns == nil {
				return invalid(ReasonMalformed, "its %q claim is not an array of topic patterns", m.name)
			}
			if len(patterns) == 0 {
				return invalid(ReasonClaims, "its %q claim is an empty array: leave it out, or give topic patterns", m.name)
			}
		case "conflate":
			// A string with a unit ("1s"), as for /events?conflate=: a
			// number would leave the unit to guess.
			var v string
			if json.Unmarshal(m.value, &v) != nil || m.value[0] != '"' {
				return invalid(ReasonMalformed, "its \"conflate\" claim is not a string such as \"1s\"")
			}
			if v == "" {
				return invalid(ReasonClaims, "its \"conflate\" claim is empty: leave it out, or give an interval such as \"1s\"")
			}
		case "exp", "nbf", "iat":
			// A NumericDate (RFC 7519 §2) is a JSON number; the library
			// would also take a string holding one.
			if c := m.value[0]; c != '-' && (c < '0' || c > '9') {
				return invalid(ReasonMalformed, "its %q is not a number of seconds since 1970 (a NumericDate, RFC 7519 §2)", m.name)
			}
			secs, err := strconv.ParseFloat(string(m.value), 64)
			if err != nil || math.IsInf(secs, 0) {
				return invalid(ReasonMalformed, "its %q is out of range", m.name)
			}
			if m.name == "exp" && k.maxLifetime > 0 && secs > float64(k.now().Add(k.maxLifetime+k.leeway).Unix()) {
				return invalid(ReasonLifetime, "it expires further ahead than this server accepts: at most %s from now (auth.max_token_lifetime)", formatLifetime(k.maxLifetime))
			}
		}
	}
	return nil
}

// member is a name and its value in a JSON object.
type member struct {
	name  string
	value json.RawMessage
}

// members returns the members of the JSON object a token's segment holds,
// in order, duplicates included.
func members(segment string) ([]member, error) {
	malformed := invalid(ReasonMalformed, "it is not a JWT of the expected form (header.claims.signature, base64url, with a \"subscribe\" array of topic patterns)")
	b, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return nil, malformed
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, malformed
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		m := member{name: t.(string)} // a name: the decoder checks the grammar
		if err := dec.Decode(&m.value); err != nil {
			return nil, malformed
		}
		ms = append(ms, m)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed // more after the object
	}
	return ms, nil
}

// formatLifetime writes d as configuration files do ("24h", "90m").
func formatLifetime(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// verifier returns the key that verifies t's signature among those of the
// algorithm its header names. A "kid" naming configured keys narrows them
// to those; one naming none (a key since retired from a JWKS, or an
// issuer's own naming) leaves all of the algorithm to try. With one
// candidate the parser's own check of the signature decides; with several
// (keys being rotated) each is tried here, so that the grant can name the
// one that verifies.
func (k *Keys) verifier(t *jwt.Token) (*key, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	known := false
	for _, key := range k.keys {
		known = known || kid != "" && key.id == kid
	}
	var candidates []*key
	for i := range k.keys {
		if c := &k.keys[i]; c.alg == alg && (!known || c.id == kid) {
			candidates = append(candidates, c)
		}
	}
	switch len(candidates) {
	case 0:
		return nil, fmt.Errorf("no %s key", alg)
	case 1:
		return candidates[0], nil
	}
	signed := t.Raw[:strings.LastIndexByte(t.Raw, '.')]
	for _, c := range candidates {
		if t.Method.Verify(signed, t.Signature, c.key) == nil {
			return c, nil
		}
	}
	return candidates[0], nil // none verifies: the parser's check says so
}

// Holds reports whether k has the key that a Grant's Key names.
func (k *Keys) Holds(id string) bool {
	if k == nil {
		return false
	}
	for _, key := range k.keys {
		if key.fingerprint == id {
			return true
		}
	}
	return false
}

// ErrNoSecret is a mint with no HMAC secret among the keys to sign with.
var ErrNoSecret = errors.New("no HMAC secret among auth.subscriber_keys to sign with (public keys only verify)")

// Mint returns a token granting patterns for ttl, signed with the first
// HMAC key (HS256); audience, if not empty, goes in "aud". A ttl beyond the
// keys' maximum lifetime is refused: Verify would refuse the token.
func (k *Keys) Mint(patterns []string, ttl time.Duration, audience string) (string, error) {
	return k.MintClaims(Claims{Subscribe: patterns}, ttl, audience)
}

// Claims are what a minted token grants: its "subscribe", "realtime" and
// "conflate" claims (each optional, but not both of the first two).
type Claims struct {
	Subscribe, Realtime []string
	Conflate            time.Duration
}

// MintClaims is Mint for a token with any of the claims of c.
func (k *Keys) MintClaims(c Claims, ttl time.Duration, audience string) (string, error) {
	cl := claims{RegisteredClaims: jwt.RegisteredClaims{Audience: audienceOf(audience)}, Realtime: c.Realtime}
	if len(c.Realtime) > 0 {
		if _, err := feed.ParseFilter(c.Realtime); err != nil {
			return "", err
		}
	}
	if c.Conflate != 0 {
		cl.Conflate = feed.FormatDuration(c.Conflate)
		if _, err := feed.ParseConflate(cl.Conflate); err != nil {
			return "", err
		}
	}
	return k.mint(c.Subscribe, ttl, cl)
}

// MintSession is Mint for a token tied to a sign-in: subject goes in
// "sub" (who signed in) and session in "sid" (which sign-in), and Verify
// hands both back in the Grant, so that whoever keeps the sessions can
// refuse the token, and end what it opened, once the session ends.
func (k *Keys) MintSession(patterns []string, ttl time.Duration, subject, session string) (string, error) {
	return k.mint(patterns, ttl, claims{RegisteredClaims: jwt.RegisteredClaims{Subject: subject}, Session: session})
}

func audienceOf(a string) jwt.ClaimStrings {
	if a == "" {
		return nil
	}
	return jwt.ClaimStrings{a}
}

func (k *Keys) mint(patterns []string, ttl time.Duration, c claims) (string, error) {
	secret := k.secret()
	if secret == nil {
		return "", ErrNoSecret
	}
	if len(patterns) > 0 || len(c.Realtime) == 0 {
		if _, err := feed.ParseFilter(patterns); err != nil {
			return "", err
		}
	}
	switch {
	case ttl <= 0:
		return "", errors.New("the lifetime must be positive")
	case k.maxLifetime > 0 && ttl > k.maxLifetime:
		return "", fmt.Errorf("a lifetime of %s is longer than the server accepts: at most %s (auth.max_token_lifetime)", formatLifetime(ttl), formatLifetime(k.maxLifetime))
	}
	now := k.now()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	c.Subscribe = patterns
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

// MaxLifetime returns how far ahead a token's "exp" may be (0: no limit).
func (k *Keys) MaxLifetime() time.Duration {
	if k == nil {
		return 0
	}
	return k.maxLifetime
}

// WithMaxLifetime returns a copy of k that refuses tokens expiring more
// than d (plus the leeway) from now, and mints none for longer; 0 sets
// no limit.
func (k *Keys) WithMaxLifetime(d time.Duration) *Keys {
	c := *k
	c.maxLifetime = d
	return &c
}
