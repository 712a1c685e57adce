package handlers_test

import (
	"net/http"
	"sync"
	"testing"

	"livefeed/handlers"
)

// TestSetCredentialsWhileServing: credentials swapped over and over while
// publishes run (go test -race checks the swap): a token in every set is
// always accepted, one dropped is refused once the swap is done.
func TestSetCredentialsWhileServing(t *testing.T) {
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
