package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livefeed/feed"
	"livefeed/handlers/token"
)

const (
	secret    = "subscriber-secret-0123456789abcdef"
	oldSecret = "previous-subscriber-secret-0123456789"
)

// now is the tests' clock.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
)

func keyPairs(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

func publicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign makes a token with the given claims, header fields and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func valid(extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "subscribe": []string{"premium/*", "stocks/rt/AAPL"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	return c
}

func keys(t testing.TB, audience string, entries ...string) *token.Keys {
	t.Helper()
	k, err := token.ParseKeys(entries, audience, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	return k.WithClock(func() time.Time { return now })
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRaw signs a header and claims given as JSON text, as written: names
// twice, or JSON no encoder would write.
func signRaw(t testing.TB, header, claims string) string {
	t.Helper()
	signed := b64([]byte(header)) + "." + b64([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signed, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

func TestVerify(t *testing.T) {
	rk, ek := keyPairs(t)
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(ek.X.FillBytes(make([]byte, 32))), "y": b64(ek.Y.FillBytes(make([]byte, 32)))},
	}})
	if err := os.WriteFile(jwks, set, 0o600); err != nil {
		t.Fatal(err)
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), c, nil) }
	rotated := keys(t, "", secret, oldSecret)
	pemKeys := keys(t, "", publicPEM(t, &rk.PublicKey), publicPEM(t, &ek.PublicKey))
	jwksKeys := keys(t, "", "file:"+jwks)
	withAudience := keys(t, "livefeed.example", secret)
	valid := valid
	for _, tc := range []struct {
		name   string
		keys   *token.Keys
		token  string
		reason string // "" for a valid token
	}{
		{"OKHS256", rotated, hs(valid()), ""},
		{"OKPreviousKeyDuringRotation", rotated, sign(t, jwt.SigningMethodHS256, []byte(oldSecret), valid(), nil), ""},
		{"OKRS256", pemKeys, sign(t, jwt.SigningMethodRS256, rk, valid(), nil), ""},
		{"OKES256", pemKeys, sign(t, jwt.SigningMethodES256, ek, valid(), nil), ""},
		{"OKJWKSByKid", jwksKeys, sign(t, jwt.SigningMethodRS256, rk, valid(), map[string]any{"kid": "rsa-1"}), ""},
		{"OKJWKSUnknownKidTriesAll", jwksKeys, sign(t, jwt.SigningMethodES256, ek, valid(), map[string]any{"kid": "gone"}), ""},
		{"OKExpiredWithinLeeway", rotated, hs(valid("exp", now.Add(-token.Leeway+time.Second).Unix())), ""},
		{"OKNotBeforeWithinLeeway", rotated, hs(valid("nbf", now.Add(token.Leeway-time.Second).Unix())), ""},
		{"OKAudience", withAudience, hs(valid("aud", "livefeed.example")), ""},
		{"OKAudienceAmongSeveral", withAudience, hs(valid("aud", []string{"other", "livefeed.example"})), ""},
		{"ErrExpired", rotated, hs(valid("exp", now.Add(-token.Leeway-time.Second).Unix())), token.ReasonExpired},
		{"ErrNotYetValid", rotated, hs(valid("nbf", now.Add(token.Leeway+time.Minute).Unix())), token.ReasonNotYetValid},
		{"ErrNoExpiry", rotated, hs(valid("exp", nil)), token.ReasonClaims},
		{"ErrNoSubscribe", rotated, hs(valid("subscribe", nil)), token.ReasonClaims},
		{"ErrEmptySubscribe", rotated, hs(valid("subscribe", []string{})), token.ReasonClaims},
		{"ErrBadPattern", rotated, hs(valid("subscribe", []string{"premium/*/x"})), token.ReasonClaims},
		{"ErrSubscribeNotArray", rotated, hs(valid("subscribe", "premium/*")), token.ReasonMalformed},
		{"ErrExpNotNumber", rotated, hs(valid("exp", "tomorrow")), token.ReasonMalformed},
		{"ErrWrongAudience", withAudience, hs(valid("aud", "other.example")), token.ReasonAudience},
		{"ErrNoAudience", withAudience, hs(valid()), token.ReasonAudience},
		{"ErrAudienceNotExpected", rotated, hs(valid("aud", "livefeed.example")), token.ReasonAudience},
		{"ErrForged", rotated, sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), valid(), nil), token.ReasonSignature},
		{"ErrKeyRetired", keys(t, "", secret), sign(t, jwt.SigningMethodHS256, []byte(oldSecret), valid(), nil), token.ReasonSignature},
		{"ErrTampered", rotated, tamper(hs(valid())), token.ReasonSignature},
		{"ErrAlgNone", rotated, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(), nil), token.ReasonSignature},
		{"ErrAlgNoneEmptySignature", rotated, strings.TrimSuffix(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(), nil), "."), token.ReasonMalformed},
		// The public key's PEM text used as an HMAC secret: the classic
		// algorithm confusion (RFC 8725 §2.1). Only RS256 and ES256 are
		// tried with those keys.
		{"ErrPublicKeyAsHMACSecret", pemKeys, sign(t, jwt.SigningMethodHS256, []byte(publicPEM(t, &rk.PublicKey)), valid(), nil), token.ReasonSignature},
		{"ErrAlgOfNoKey", rotated, sign(t, jwt.SigningMethodRS256, rk, valid(), nil), token.ReasonSignature},
		{"ErrRS512", pemKeys, sign(t, jwt.SigningMethodRS512, rk, valid(), nil), token.ReasonSignature},
		{"ErrWrongKidStillVerified", jwksKeys, sign(t, jwt.SigningMethodRS256, rk, valid(), map[string]any{"kid": "ec-1"}), token.ReasonSignature},
		{"ErrNotAJWT", rotated, "not-a-token", token.ReasonMalformed},
		{"ErrEmpty", rotated, "", token.ReasonMalformed},
		{"ErrPadded", rotated, pad(hs(valid())), token.ReasonMalformed},
		{"ErrTooLong", rotated, hs(valid("pad", strings.Repeat("x", token.MaxLen))), token.ReasonMalformed},
		{"ErrNoKeys", &token.Keys{}, hs(valid()), token.ReasonSignature},
		// Read strictly: what the library would take leniently, or in a
		// way other readers would not, is refused.
		{"ErrCrit", rotated, sign(t, jwt.SigningMethodHS256, []byte(secret), valid(), map[string]any{"crit": []string{"exp"}}), token.ReasonMalformed},
		{"ErrCritEmpty", rotated, sign(t, jwt.SigningMethodHS256, []byte(secret), valid(), map[string]any{"crit": []string{}}), token.ReasonMalformed},
		{"ErrExpString", rotated, hs(valid("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))), token.ReasonMalformed},
		{"ErrNbfString", rotated, hs(valid("nbf", strconv.FormatInt(now.Unix(), 10))), token.ReasonMalformed},
		{"ErrIatString", rotated, hs(valid("iat", strconv.FormatInt(now.Unix(), 10))), token.ReasonMalformed},
		{"ErrExpNull", rotated, signRaw(t, `{"alg":"HS256","typ":"JWT"}`, `{"exp":null,"subscribe":["premium/*","stocks/rt/AAPL"]}`), token.ReasonMalformed},
		{"ErrExpUpperCase", rotated, hs(valid("exp", nil, "EXP", now.Add(time.Hour).Unix())), token.ReasonMalformed},
		{"ErrExpCaseOverrides", rotated, signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["premium/*","stocks/rt/AAPL"],"Exp":%d}`, now.Add(time.Hour).Unix(), now.Add(24*time.Hour).Unix())), token.ReasonMalformed},
		{"ErrSubscribeCapitalized", rotated, hs(valid("subscribe", nil, "Subscribe", []string{"premium/*", "stocks/rt/AAPL"})), token.ReasonMalformed},
		{"ErrSubscribeCaseOverrides", rotated, hs(valid("SUBSCRIBE", []string{"*"})), token.ReasonMalformed},
		// U+017F LATIN SMALL LETTER LONG S folds to "s" (Go's JSON
		// decoding takes "ſubscribe" for "subscribe").
		{"ErrSubscribeUnicodeFold", rotated, hs(valid("subscribe", nil, "\u017fubscribe", []string{"premium/*", "stocks/rt/AAPL"})), token.ReasonMalformed},
		{"ErrAudienceCase", withAudience, hs(valid("aud", "livefeed.example", "AUD", "other")), token.ReasonMalformed},
		{"ErrClaimTwice", rotated, signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["nba/*"],"subscribe":["premium/*","stocks/rt/AAPL"]}`, now.Add(time.Hour).Unix())), token.ReasonMalformed},
		{"ErrHeaderNameTwice", rotated, signRaw(t, `{"alg":"HS256","kid":"a","kid":"b"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["premium/*","stocks/rt/AAPL"]}`, now.Add(time.Hour).Unix())), token.ReasonMalformed},
		{"ErrTrailingClaims", rotated, signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["premium/*","stocks/rt/AAPL"]}{}`, now.Add(time.Hour).Unix())), token.ReasonMalformed},
		{"OKUnknownClaims", rotated, hs(valid("iss", "issuer.example", "jti", "a1", "custom", map[string]any{"Exp": "x"}, "Custom", 1)), ""},
		// The maximum lifetime: 24 hours unless set otherwise.
		{"OKExpAtMaxLifetime", rotated, hs(valid("exp", now.Add(token.DefaultMaxLifetime).Unix())), ""},
		{"OKExpAtMaxLifetimeWithinLeeway", rotated, hs(valid("exp", now.Add(token.DefaultMaxLifetime+token.Leeway).Unix())), ""},
		{"OKNoMaxLifetime", rotated.WithMaxLifetime(0), hs(valid("exp", now.Add(10*365*24*time.Hour).Unix())), ""},
		{"OKLongerMaxLifetime", rotated.WithMaxLifetime(72 * time.Hour), hs(valid("exp", now.Add(48*time.Hour).Unix())), ""},
		{"ErrBeyondMaxLifetime", rotated, hs(valid("exp", now.Add(token.DefaultMaxLifetime+token.Leeway+time.Second).Unix())), token.ReasonLifetime},
		{"ErrBeyondShorterMaxLifetime", rotated.WithMaxLifetime(time.Hour), hs(valid("exp", now.Add(2*time.Hour).Unix())), token.ReasonLifetime},
		{"ErrExpHuge", rotated, hs(valid("exp", int64(9.2e18))), token.ReasonLifetime},
		{"ErrExpHugeFloat", rotated, signRaw(t, `{"alg":"HS256"}`, `{"exp":1e30,"subscribe":["premium/*","stocks/rt/AAPL"]}`), token.ReasonLifetime},
		{"ErrExpBeyondDouble", rotated, signRaw(t, `{"alg":"HS256"}`, `{"exp":1e400,"subscribe":["premium/*","stocks/rt/AAPL"]}`), token.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.keys.Verify(tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !g.Topics.Match("premium/x") || !g.Topics.Match("stocks/rt/AAPL") || g.Topics.Match("stocks/rt/MSFT") || g.Expires.IsZero() {
					t.Fatalf("grant %+v", g)
				}
				return
			}
			var inv *token.Invalid
			if !errors.As(err, &inv) || inv.Reason != tc.reason || !errors.Is(err, feed.ErrUnauthorized) {
				t.Fatalf("Verify = %+v, %v; want an Invalid of reason %q", g, err, tc.reason)
			}
			if strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Fatalf("the error repeats the token: %v", err)
			}
		})
	}
}

// tamper changes the claims of a token, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = b64([]byte(strings.Replace(string(claims), "premium/*", "*", 1)))
	return strings.Join(parts, ".")
}

// pad writes the claims with base64 padding, which JWS forbids (RFC 7515
// §2).
func pad(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = base64.URLEncoding.EncodeToString(append(claims, ' '))
	return strings.Join(parts, ".")
}

func TestParseKeys(t *testing.T) {
	rk, ek := keyPairs(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ek)
	privatePEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return "file:" + path
	}
	for _, tc := range []struct {
		name    string
		entries []string
		n       int    // keys read
		err     string // a piece of the error, "" for none
	}{
		{"OKSecrets", []string{secret, oldSecret}, 2, ""},
		{"OKPEMs", []string{publicPEM(t, &rk.PublicKey) + publicPEM(t, &ek.PublicKey)}, 2, ""},
		{"OKPEMFile", []string{write("key.pem", publicPEM(t, &rk.PublicKey))}, 1, ""},
		{"OKPKCS1", []string{string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)}))}, 1, ""},
		{"OKJWKSSkipsEncryptionKeys", []string{write("jwks.json", `{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},{"kty":"RSA","n":"`+b64(rk.N.Bytes())+`","e":"AQAB"}]}`)}, 1, ""},
		{"ErrShortSecret", []string{"too-short-secret"}, 0, "at least 32 bytes"},
		{"ErrPrivateKey", []string{privatePEM}, 0, "never the private key"},
		{"ErrSmallRSA", []string{publicPEM(t, &small.PublicKey)}, 0, "1024 bits"},
		{"ErrP384", []string{publicPEM(t, &p384.PublicKey)}, 0, "P-256"},
		{"ErrMissingFile", []string{"file:" + filepath.Join(dir, "none.pem")}, 0, "no such file"},
		{"ErrJWKSPrivate", []string{write("priv.json", `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}`)}, 0, "private key"},
		{"ErrJWKSAlgMismatch", []string{write("alg.json", `{"keys":[{"kty":"RSA","alg":"HS256","n":"`+b64(rk.N.Bytes())+`","e":"AQAB"}]}`)}, 0, "verifies RS256"},
		{"ErrJWKSNotOnCurve", []string{write("curve.json", `{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}]}`)}, 0, "not a point"},
		{"ErrJWKSEmpty", []string{write("empty.json", `{"keys":[]}`)}, 0, "no keys"},
		{"ErrNamesEntry", []string{secret, "short"}, 0, "[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := token.ParseKeys(tc.entries, "", os.ReadFile)
			if tc.err == "" {
				if err != nil || k.Len() != tc.n {
					t.Fatalf("ParseKeys = %d keys, %v; want %d", k.Len(), err, tc.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseKeys = %v; want an error with %q", err, tc.err)
			}
			for _, e := range tc.entries {
				if len(e) > 20 && strings.Contains(err.Error(), e) {
					t.Fatalf("the error repeats an entry: %v", err)
				}
			}
		})
	}
}

func TestMint(t *testing.T) {
	k := keys(t, "livefeed.example", secret)
	tok, err := k.Mint([]string{"premium/*"}, time.Hour, "livefeed.example")
	if err != nil {
		t.Fatal(err)
	}
	g, err := k.Verify(tok)
	if err != nil || !g.Topics.Match("premium/a") || g.Topics.Match("nba/a") || !g.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("Verify(Mint) = %+v, %v", g, err)
	}
	if _, err := k.Mint([]string{"bad pattern"}, time.Hour, ""); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("Mint of a bad pattern: %v", err)
	}
	rk, _ := keyPairs(t)
	if _, err := keys(t, "", publicPEM(t, &rk.PublicKey)).Mint([]string{"*"}, time.Hour, ""); err == nil {
		t.Fatal("minted without an HMAC secret")
	}
	if _, err := k.Mint([]string{"*"}, token.DefaultMaxLifetime+time.Second, ""); err == nil || !strings.Contains(err.Error(), "at most 24h (auth.max_token_lifetime)") {
		t.Fatalf("Mint beyond the maximum lifetime: %v", err)
	}
	if _, err := k.WithMaxLifetime(0).Mint([]string{"*"}, 30*24*time.Hour, ""); err != nil {
		t.Fatalf("Mint without a maximum lifetime: %v", err)
	}
}

// TestMintSession: a token minted for a session carries its subject and
// session back in the grant; other tokens carry none.
func TestMintSession(t *testing.T) {
	k := keys(t, "", secret)
	tok, err := k.MintSession([]string{"*"}, 15*time.Minute, "alice", "session-1")
	if err != nil {
		t.Fatal(err)
	}
	g, err := k.Verify(tok)
	if err != nil || g.Subject != "alice" || g.Session != "session-1" || !g.Topics.Match("premium/a") {
		t.Fatalf("Verify(MintSession) = %+v, %v", g, err)
	}
	tok, _ = k.Mint([]string{"*"}, time.Hour, "")
	if g, err := k.Verify(tok); err != nil || g.Subject != "" || g.Session != "" {
		t.Fatalf("Verify(Mint) = %+v, %v", g, err)
	}
}

// TestGrantKey: a grant names the key that verified its token, also among
// several of one algorithm (a rotation); a set of keys holds that name
// while it has the key, read from whatever entry, and not once it is
// removed.
func TestGrantKey(t *testing.T) {
	rk, _ := keyPairs(t)
	rotated := keys(t, "", secret, oldSecret)
	current, err := rotated.Verify(sign(t, jwt.SigningMethodHS256, []byte(secret), valid(), nil))
	if err != nil {
		t.Fatal(err)
	}
	previous, err := rotated.Verify(sign(t, jwt.SigningMethodHS256, []byte(oldSecret), valid(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if current.Key == "" || current.Key == previous.Key || strings.Contains(current.Key, secret) {
		t.Fatalf("keys %q and %q", current.Key, previous.Key)
	}
	after := keys(t, "", secret) // the old secret removed
	if !rotated.Holds(current.Key) || !rotated.Holds(previous.Key) || !after.Holds(current.Key) || after.Holds(previous.Key) {
		t.Fatal("Holds does not follow the keys")
	}
	if (&token.Keys{}).Holds(current.Key) || (*token.Keys)(nil).Holds(current.Key) {
		t.Fatal("no keys hold a key")
	}
	// One RSA key, from a PEM text and from a JWKS file: one name.
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())}}})
	if err := os.WriteFile(jwks, set, 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := keys(t, "", publicPEM(t, &rk.PublicKey)).Verify(sign(t, jwt.SigningMethodRS256, rk, valid(), nil))
	if err != nil || !keys(t, "", "file:"+jwks).Holds(g.Key) || rotated.Holds(g.Key) {
		t.Fatalf("RSA key %q: %v", g.Key, err)
	}
}

// FuzzVerify: no input makes Verify panic, and whatever it accepts is a
// token signed with the key, unexpired, granting valid patterns.
func FuzzVerify(f *testing.F) {
	k, err := token.ParseKeys([]string{secret}, "", os.ReadFile)
	if err != nil {
		f.Fatal(err)
	}
	k = k.WithClock(func() time.Time { return now })
	good, _ := k.Mint([]string{"premium/*"}, time.Hour, "")
	f.Add(good)
	f.Add(tamper(good))
	f.Add(strings.Repeat("a.", 3))
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjE5MDAwMDAwMDAsInN1YnNjcmliZSI6WyIqIl19.")
	exp := now.Add(time.Hour).Unix()
	for _, seed := range [][2]string{
		{`{"alg":"HS256","crit":["exp"]}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"]}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":"%d","subscribe":["*"]}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"EXP":%d,"Subscribe":["*"]}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["nba/*"],"subscribe":["*"]}`, exp)},
		{`{"alg":"HS256","alg":"none"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"]}`, exp)},
		{`{"alg":"HS256"}`, `{"exp":9.2e18,"subscribe":["*"]}`},
		{`{"alg":"HS256"}`, `{"exp":1e30,"nbf":-1e30,"subscribe":["*"]}`},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d.5,"iat":0,"subscribe":["*"],"sid":"s","sub":"alice"}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"realtime":["stocks/*"],"conflate":"1s"}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"],"conflate":1000,"realtime":"*"}`, exp)},
		{`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"],"Realtime":["*"],"conflate":"50ms"}`, exp)},
	} {
		f.Add(signRaw(f, seed[0], seed[1]))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		g, err := k.Verify(raw)
		if err != nil {
			var inv *token.Invalid
			if !errors.As(err, &inv) || inv.Reason == "" {
				t.Fatalf("error %v is not an Invalid with a reason", err)
			}
			return
		}
		if g.Topics.IsZero() && g.Realtime.IsZero() || g.Expires.Before(now.Add(-token.Leeway)) || g.Expires.After(now.Add(token.DefaultMaxLifetime+token.Leeway)) || !k.Holds(g.Key) {
			t.Fatalf("accepted %q granting %+v", raw, g)
		}
		tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
		if err != nil {
			t.Fatalf("accepted %q, which does not verify with the key: %v", raw, err)
		}
		if _, crit := tok.Header["crit"]; crit {
			t.Fatalf("accepted %q, which names critical extensions", raw)
		}
		// What it grants is what a reader taking the names as written
		// finds: a number for exp, and "subscribe" itself.
		claims := tok.Claims.(jwt.MapClaims)
		if _, ok := claims["exp"].(float64); !ok {
			t.Fatalf("accepted %q, whose exp is %#v", raw, claims["exp"])
		}
		for name, granted := range map[string]feed.Filter{"subscribe": g.Topics, "realtime": g.Realtime} {
			if _, given := claims[name]; !given {
				if !granted.IsZero() {
					t.Fatalf("accepted %q granting %v without a %q claim", raw, granted, name)
				}
				continue
			}
			patterns, _ := json.Marshal(claims[name])
			filter, err := feed.ParseFilter(func() (p []string) { json.Unmarshal(patterns, &p); return p }())
			if err != nil || filter.String() != granted.String() {
				t.Fatalf("accepted %q granting %v, whose %s claim reads %s", raw, granted, name, patterns)
			}
		}
		if c, given := claims["conflate"]; given {
			d, err := feed.ParseConflate(fmt.Sprint(c))
			if _, isString := c.(string); !isString || err != nil || d != g.Conflate {
				t.Fatalf("accepted %q conflating to %v, whose conflate claim is %#v", raw, g.Conflate, c)
			}
		} else if g.Conflate != 0 {
			t.Fatalf("accepted %q conflating to %v without a conflate claim", raw, g.Conflate)
		}
	})
}

// TestVerifyDeliveryClaims: "realtime" (topic patterns whose delays do
// not apply) and "conflate" (a duration string within bounds) are read
// strictly: of the right type, in the right case, in bounds; a token may
// carry "realtime" without "subscribe".
func TestVerifyDeliveryClaims(t *testing.T) {
	k := keys(t, "", secret)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), c, nil) }
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name     string
		token    string
		reason   string // "" for a valid token
		realtime string // what it grants in real time (Filter.String)
		conflate time.Duration
	}{
		{"OKBoth", hs(valid("realtime", []string{"stocks/*"}, "conflate", "1s")), "", "stocks/*", time.Second},
		{"OKRealtimeOnly", hs(valid("subscribe", nil, "realtime", []string{"stocks/AAPL", "fx/*"})), "", "stocks/AAPL,fx/*", 0},
		{"OKConflateOnly", hs(valid("conflate", "250ms")), "", "", 250 * time.Millisecond},
		{"OKConflateBounds", hs(valid("conflate", "1h")), "", "", time.Hour},
		{"ErrConflateOnlyClaim", hs(valid("subscribe", nil, "conflate", "1s")), token.ReasonClaims, "", 0},
		{"ErrConflateNumber", hs(valid("conflate", 1000)), token.ReasonMalformed, "", 0},
		{"ErrConflateNull", signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"],"conflate":null}`, exp)), token.ReasonMalformed, "", 0},
		{"ErrConflateArray", hs(valid("conflate", []string{"1s"})), token.ReasonMalformed, "", 0},
		{"ErrConflateNoUnit", hs(valid("conflate", "1000")), token.ReasonClaims, "", 0},
		{"ErrConflateTooShort", hs(valid("conflate", "99ms")), token.ReasonClaims, "", 0},
		{"ErrConflateTooLong", hs(valid("conflate", "1h1s")), token.ReasonClaims, "", 0},
		{"ErrConflateNegative", hs(valid("conflate", "-1s")), token.ReasonClaims, "", 0},
		{"ErrConflateEmpty", hs(valid("conflate", "")), token.ReasonClaims, "", 0},
		{"ErrConflateCase", hs(valid("Conflate", "1s")), token.ReasonMalformed, "", 0},
		{"ErrConflateTwice", signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":["*"],"conflate":"1h","conflate":"100ms"}`, exp)), token.ReasonMalformed, "", 0},
		{"ErrRealtimeString", hs(valid("realtime", "stocks/*")), token.ReasonMalformed, "", 0},
		{"ErrRealtimeNumbers", hs(valid("realtime", []int{1})), token.ReasonMalformed, "", 0},
		{"ErrRealtimeObject", hs(valid("realtime", map[string]any{"stocks/*": true})), token.ReasonMalformed, "", 0},
		{"ErrRealtimeNull", signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"realtime":null}`, exp)), token.ReasonMalformed, "", 0},
		{"ErrRealtimeEmpty", hs(valid("realtime", []string{})), token.ReasonClaims, "", 0},
		{"ErrRealtimeBadPattern", hs(valid("realtime", []string{"stocks/*/x"})), token.ReasonClaims, "", 0},
		{"ErrRealtimeCase", hs(valid("REALTIME", []string{"*"})), token.ReasonMalformed, "", 0},
		{"ErrRealtimeTwice", signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"realtime":["nba/*"],"realtime":["*"]}`, exp)), token.ReasonMalformed, "", 0},
		{"ErrSubscribeNull", signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"subscribe":null,"realtime":["*"]}`, exp)), token.ReasonMalformed, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := k.Verify(tc.token)
			if tc.reason != "" {
				var inv *token.Invalid
				if !errors.As(err, &inv) || inv.Reason != tc.reason {
					t.Fatalf("Verify = %+v, %v; want an Invalid of reason %q", g, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if g.Realtime.String() != tc.realtime || g.Conflate != tc.conflate {
				t.Fatalf("grant: realtime %q, conflate %v; want %q, %v", g.Realtime, g.Conflate, tc.realtime, tc.conflate)
			}
		})
	}
}

// TestMintClaims: a minted token carries realtime and conflate claims
// that Verify reads back; bad ones are not minted.
func TestMintClaims(t *testing.T) {
	k := keys(t, "", secret)
	tok, err := k.MintClaims(token.Claims{Realtime: []string{"stocks/*"}, Conflate: 1500 * time.Millisecond}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := k.Verify(tok)
	if err != nil || !g.Topics.IsZero() || g.Realtime.String() != "stocks/*" || g.Conflate != 1500*time.Millisecond {
		t.Fatalf("Verify(MintClaims) = %+v, %v", g, err)
	}
	for _, c := range []token.Claims{{}, {Realtime: []string{"bad pattern"}}, {Subscribe: []string{"*"}, Conflate: time.Millisecond}} {
		if _, err := k.MintClaims(c, time.Hour, ""); err == nil {
			t.Errorf("MintClaims(%+v) minted", c)
		}
	}
}
