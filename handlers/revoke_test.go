package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers"
	subtoken "livefeed/handlers/token"
	"livefeed/web"
)

// keptSecret is a second subscriber key, which the tests' reloads keep.
const keptSecret = "kept-subscriber-secret-0123456789abcdef"

// mintWith signs a subscriber token with secret granting patterns until
// exp.
func mintWith(t testing.TB, secret string, exp time.Time, patterns ...string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp.Unix(), "subscribe": patterns}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nextWithin reads the next event of rd, failing the test if none comes
// within d (a stream that should end but goes on only sends heartbeats,
// which the reader skips).
func nextWithin(t *testing.T, rd *client.Reader, d time.Duration) (client.Message, error) {
	t.Helper()
	type result struct {
		ev  client.Message
		err error
	}
	got := make(chan result, 1)
	go func() {
		for {
			ev, err := rd.Next()
			if err == nil && ev.Type == feed.EventPosition {
				continue // the end of a snapshot
			}
			got <- result{ev, err}
			return
		}
	}()
	select {
	case r := <-got:
		return r.ev, r.err
	case <-time.After(d):
		t.Fatalf("nothing on the stream within %s", d)
		return client.Message{}, nil
	}
}

// expectRevoked reads the "unauthorized" event that ends a stream whose
// credential was revoked, within a second or so, and then the stream's
// end.
func expectRevoked(t *testing.T, name string, rd *client.Reader, why string) {
	t.Helper()
	ev, err := nextWithin(t, rd, 2*time.Second)
	var notice struct{ Reason, Message string }
	if err != nil || ev.Type != "unauthorized" || json.Unmarshal([]byte(ev.Data), &notice) != nil || notice.Reason != "revoked" || !strings.Contains(notice.Message, why) {
		t.Fatalf("%s: %+v, %v; want an unauthorized event of reason revoked saying %q", name, ev, err, why)
	}
	if _, err := nextWithin(t, rd, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: after the notice: %v, want the end of the stream", name, err)
	}
}

// TestRevokedKeyEndsStreams: a change of the credentials (SIGHUP) that
// removes a subscriber key ends, at once, every stream opened with a
// token of that key, from any source, with an "unauthorized" event saying
// why, counted as revoked; the streams of the key kept and those without
// a token go on. A stream opened again with the token gets the public
// topics only.
func TestRevokedKeyEndsStreams(t *testing.T) {
	t.Parallel()
	for _, over := range []struct {
		name     string
		tlsHTTP2 bool
	}{{"HTTP1", false}, {"HTTP2", true}} {
		t.Run(over.name, func(t *testing.T) {
			a := newPrivateAppOn(t, handlers.Options{SubscriberKeys: subscriberKeysOf(t, subscriberSecret, keptSecret)}, over.tlsHTTP2)
			revokeKey(t, a)
		})
	}
}

// revokeKey is TestRevokedKeyEndsStreams on a, which verifies tokens of
// subscriberSecret and keptSecret.
func revokeKey(t *testing.T, a *app) {
	t.Helper()
	removed := mint(t, time.Now().Add(time.Hour), nil, "premium/*")
	revokedStreams := map[string]*client.Reader{}
	for _, src := range tokenSources {
		q, h := src.send(removed)
		resp, rd := a.stream(t, "topic=*"+q, h)
		if a.TLS && resp.ProtoMajor != 2 {
			t.Fatalf("a stream over %s, want HTTP/2", resp.Proto)
		}
		wantIDs(t, src.name+" snapshot", readIDs(t, rd, 3), "1 note", "2 note", "3 note")
		revokedStreams[src.name] = rd
	}
	_, kept := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + mintWith(t, keptSecret, time.Now().Add(time.Hour), "premium/*")}})
	wantIDs(t, "kept key's snapshot", readIDs(t, kept, 3), "1 note", "2 note", "3 note")
	_, anonymous := a.stream(t, "topic=*", nil)
	wantIDs(t, "anonymous snapshot", readIDs(t, anonymous, 1), "1 note")

	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{token}, SubscriberKeys: subscriberKeysOf(t, keptSecret)})
	for name, rd := range revokedStreams {
		expectRevoked(t, name, rd, "the key that verified it was removed")
	}
	if got := metricValue(t, a.Client(), a.URL, `livefeed_streams_closed_total{reason="revoked"}`); got != 3 {
		t.Fatalf("streams closed as revoked: %v, want 3", got)
	}

	a.publish(t, "Bearer "+token, `[{"topic":"premium/a","type":"note","data":{}},{"topic":"nba/a","type":"note","data":{}}]`) // 4, 5
	wantIDs(t, "the kept key's stream", readIDs(t, kept, 2), "4 note", "5 note")
	wantIDs(t, "the anonymous stream", readIDs(t, anonymous, 1), "5 note")

	_, again := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + removed}})
	if ev, err := again.Next(); err != nil || ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"signature"`) {
		t.Fatalf("reopened with the removed key's token: %+v, %v", ev, err)
	}
	wantIDs(t, "reopened", readIDs(t, again, 1), "5 note")
}

func subscriberKeysOf(t testing.TB, secrets ...string) *subtoken.Keys {
	t.Helper()
	k, err := subtoken.ParseKeys(secrets, "", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// consoleFeed signs c in as name and opens the console's feed with the
// token its session hands out; it returns the token and the stream, read
// past its snapshot.
func consoleFeed(t *testing.T, a *app, c *console, name string) (string, *client.Reader) {
	t.Helper()
	status, body := c.login(name, operatorPassword)
	var s struct {
		FeedToken string `json:"feed_token"`
	}
	if status != 200 || json.Unmarshal(body, &s) != nil || s.FeedToken == "" {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	_, rd := a.stream(t, "topic=*&token="+url.QueryEscape(s.FeedToken), nil)
	wantIDs(t, name+"'s console feed", readIDs(t, rd, 3), "1 note", "2 note", "3 note")
	return s.FeedToken, rd
}

// TestSignOutEndsConsoleStream: signing out ends at once the console
// stream opened with the session's token, counted as revoked, and the
// token is refused from then on, on the stream and the JSON endpoints;
// another session of the same operator goes on.
func TestSignOutEndsConsoleStream(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{Web: web.Files(), Operators: []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}}})
	first, other := newConsole(t, a), newConsole(t, a)
	tok, feed := consoleFeed(t, a, first, operatorName)
	_, otherFeed := consoleFeed(t, a, other, operatorName)
	_, anonymous := a.stream(t, "topic=*", nil)
	wantIDs(t, "anonymous snapshot", readIDs(t, anonymous, 1), "1 note")

	if status, body := first.post("/admin/logout"); status != 200 {
		t.Fatalf("sign-out: %d %s", status, body)
	}
	expectRevoked(t, "the signed-out console's feed", feed, "the console session it was issued for was signed out")
	if got := metricValue(t, a.Client(), a.URL, `livefeed_streams_closed_total{reason="revoked"}`); got != 1 {
		t.Fatalf("streams closed as revoked: %v, want 1", got)
	}

	a.publish(t, "Bearer "+token, `[{"topic":"premium/a","type":"note","data":{}},{"topic":"nba/a","type":"note","data":{}}]`) // 4, 5
	wantIDs(t, "the other session's feed", readIDs(t, otherFeed, 2), "4 note", "5 note")
	wantIDs(t, "the anonymous stream", readIDs(t, anonymous, 1), "5 note")

	_, again := a.stream(t, "topic=*&token="+url.QueryEscape(tok), nil)
	if ev, err := again.Next(); err != nil || ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"revoked"`) || !strings.Contains(ev.Data, "signed out") {
		t.Fatalf("reopened with the signed-out session's token: %+v, %v", ev, err)
	}
	wantIDs(t, "reopened", readIDs(t, again, 1), "5 note")
	resp, body := a.get(t, "/api/history", "Authorization", "Bearer "+tok)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "signed out") {
		t.Fatalf("history with the signed-out session's token: %d %s", resp.StatusCode, body)
	}
}

// TestRemovedOperatorEndsConsoleStreams: a change of the credentials that
// removes an operator signs it out and ends its console streams at once;
// another operator's go on.
func TestRemovedOperatorEndsConsoleStreams(t *testing.T) {
	t.Parallel()
	ops := []handlers.Operator{{Name: operatorName, PasswordHash: operatorHash()}, {Name: "bob", PasswordHash: operatorHash()}}
	a := newPrivateApp(t, handlers.Options{Web: web.Files(), Operators: ops})
	alice, bob := newConsole(t, a), newConsole(t, a)
	tok, aliceFeed := consoleFeed(t, a, alice, operatorName)
	_, bobFeed := consoleFeed(t, a, bob, "bob")

	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{token}, SubscriberKeys: subscriberKeys(t), Operators: ops[1:]})
	expectRevoked(t, "the removed operator's feed", aliceFeed, "the operator it was issued to is no longer configured")
	if _, body := alice.do(http.MethodGet, "/admin/session", nil); !strings.Contains(string(body), `"signed_in":false`) {
		t.Fatalf("the removed operator's session: %s", body)
	}
	a.publish(t, "Bearer "+token, `{"topic":"premium/a","type":"note","data":{}}`) // 4
	wantIDs(t, "the other operator's feed", readIDs(t, bobFeed, 1), "4 note")
	if resp, body := a.get(t, "/api/history", "Authorization", "Bearer "+tok); resp.StatusCode != 401 || !strings.Contains(string(body), "no longer configured") {
		t.Fatalf("history with the removed operator's token: %d %s", resp.StatusCode, body)
	}
}

// TestTokenLifetime: a token whose exp is further away than the keys'
// maximum lifetime (24 hours unless configured) is refused: the stream
// says so and carries the public topics, the JSON endpoints answer 401.
func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{})
	for _, tc := range []struct{ name, token string }{
		{"TwoDays", mint(t, time.Now().Add(48*time.Hour), nil, "premium/*")},
		{"Exp9e18", signClaims(t, `{"exp":9200000000000000000,"subscribe":["premium/*"]}`)}, // a stream that would never end
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			_, rd := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + tok}})
			if ev, err := rd.Next(); err != nil || ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"lifetime"`) || !strings.Contains(ev.Data, "at most 24h") {
				t.Fatalf("first event %+v, %v; want unauthorized for the lifetime", ev, err)
			}
			wantIDs(t, "after the notice", readIDs(t, rd, 1), "1 note")
			if resp, body := a.get(t, "/api/topics", "Authorization", "Bearer "+tok); resp.StatusCode != 401 || !strings.Contains(string(body), "auth.max_token_lifetime") {
				t.Fatalf("topics: %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("OKLongerMaxLifetime", func(t *testing.T) {
		a := newPrivateApp(t, handlers.Options{SubscriberKeys: subscriberKeys(t).WithMaxLifetime(72 * time.Hour)})
		_, rd := a.stream(t, "topic=*", http.Header{"Authorization": {"Bearer " + mint(t, time.Now().Add(48*time.Hour), nil, "premium/*")}})
		wantIDs(t, "snapshot", readIDs(t, rd, 3), "1 note", "2 note", "3 note")
	})
}

// signClaims signs claims written as JSON text with the subscriber secret.
func signClaims(t testing.TB, claims string) string {
	t.Helper()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	signed := enc(`{"alg":"HS256","typ":"JWT"}`) + "." + enc(claims)
	sig, err := jwt.SigningMethodHS256.Sign(signed, []byte(subscriberSecret))
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + enc(string(sig))
}

// TestTokenParameterTwice: ?token= given twice is refused, even when both
// are the same good token and when a header carries one too: the stream
// says so and carries the public topics, the JSON endpoints answer 401.
func TestTokenParameterTwice(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{})
	good := url.QueryEscape(mint(t, time.Now().Add(time.Hour), nil, "premium/*"))
	for name, h := range map[string]http.Header{
		"QueryOnly":  nil,
		"WithHeader": {"Authorization": {"Bearer " + mint(t, time.Now().Add(time.Hour), nil, "premium/*")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, rd := a.stream(t, "topic=*&token="+good+"&token="+good, h)
			if ev, err := rd.Next(); err != nil || ev.Type != "unauthorized" || !strings.Contains(ev.Data, `"reason":"malformed"`) || !strings.Contains(ev.Data, "the token parameter is given 2 times") {
				t.Fatalf("first event %+v, %v; want unauthorized for the repeated parameter", ev, err)
			}
			wantIDs(t, "after the notice", readIDs(t, rd, 1), "1 note")
			var kv []string
			for k, v := range h {
				kv = append(kv, k, v[0])
			}
			if resp, body := a.get(t, "/api/history?token="+good+"&token="+good, kv...); resp.StatusCode != 401 || !strings.Contains(string(body), "given 2 times") {
				t.Fatalf("history: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestGoClientAfterRevocation: the Go client whose token's key is removed
// hears why ("revoked"), reconnects by itself with a token of the key
// kept, from its position, and misses nothing.
func TestGoClientAfterRevocation(t *testing.T) {
	t.Parallel()
	a := newPrivateApp(t, handlers.Options{SubscriberKeys: subscriberKeysOf(t, subscriberSecret, keptSecret)})
	var rotated atomic.Bool
	c := client.New(a.URL, "")
	c.SubscriberToken = func(context.Context) (string, error) {
		if rotated.Load() {
			return mintWith(t, keptSecret, time.Now().Add(time.Hour), "premium/*"), nil
		}
		return mint(t, time.Now().Add(time.Hour), nil, "premium/*"), nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // Next fails rather than waits for ever
	defer cancel()
	stream := c.Subscribe(ctx, []string{"*"}, "")
	defer stream.Close()
	for _, want := range []int64{1, 2, 3} {
		if item, err := stream.Next(); err != nil || item.Event.ID != want {
			t.Fatalf("Next = %+v, %v; want event %d", item, err, want)
		}
	}
	rotated.Store(true) // the issuer moved to the kept key
	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{token}, SubscriberKeys: subscriberKeysOf(t, keptSecret)})
	if item, err := stream.Next(); err != nil || item.Unauthorized != "revoked" {
		t.Fatalf("Next = %+v, %v; want the revocation", item, err)
	}
	a.publish(t, "Bearer "+token, `{"topic":"premium/b","type":"note","data":{}}`) // 4
	if item, err := stream.Next(); err != nil || item.Event.ID != 4 {
		t.Fatalf("Next = %+v, %v; want event 4, on the new token", item, err)
	}
}
