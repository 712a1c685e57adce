package handlers_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"livefeed/handlers"
)

// TestSetCredentialsWhileServing: credentials swapped over and over while
// publishes run (go test -race checks the swap): a token in every set is
// always accepted, one dropped is refused once the swap is done.
func TestSetCredentialsWhileServing(t *testing.T) {
	t.Parallel()
	a := newApp(t, handlers.Options{}, false)
	const other = "another-publish-token-0123456789"
	set := func(tokens ...string) { a.server.SetCredentials(handlers.Credentials{PublishTokens: tokens}) }
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				set(token, other)
			} else {
				set(token)
			}
		}
	})
	for range 50 {
		if resp, body := a.publish(t, "Bearer "+token, scoreBody); resp.StatusCode != http.StatusCreated {
			t.Errorf("publish during swaps: %d %s", resp.StatusCode, body)
		}
	}
	close(stop)
	wg.Wait()
	set(token)
	if resp, _ := a.publish(t, "Bearer "+other, scoreBody); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a dropped token: %d", resp.StatusCode)
	}
}

// TestSetCredentialsOperators: an operator added while the server runs can
// sign in; one removed is signed out at the next request, and can no
// longer sign in.
func TestSetCredentialsOperators(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	if status, body := c.login(operatorName, operatorPassword); status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	signedIn := func(c *console) bool {
		var s struct {
			SignedIn bool `json:"signed_in"`
		}
		_, body := c.do(http.MethodGet, "/admin/session", nil)
		json.Unmarshal(body, &s)
		return s.SignedIn
	}
	a.server.SetCredentials(handlers.Credentials{PublishTokens: []string{token}, Operators: []handlers.Operator{{Name: "bob", PasswordHash: operatorHash()}}})
	if signedIn(c) {
		t.Errorf("a removed operator is still signed in")
	}
	if status, _ := newConsole(t, a).login(operatorName, operatorPassword); status != http.StatusUnauthorized {
		t.Errorf("a removed operator signed in: %d", status)
	}
	bob := newConsole(t, a)
	if status, body := bob.login("bob", operatorPassword); status != http.StatusOK || !signedIn(bob) {
		t.Errorf("an added operator: %d %s", status, body)
	}
}
