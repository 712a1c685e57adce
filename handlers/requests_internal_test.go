package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUnansweredIsNotOK: a handler that returns without writing anything
// is answered 500, never net/http's default "200 OK" (a 2xx for work not
// done).
func TestUnansweredIsNotOK(t *testing.T) {
	t.Parallel()
	s := &Server{metrics: NewMetrics(), log: slog.New(slog.DiscardHandler)}
	for _, handler := range []http.HandlerFunc{
		func(http.ResponseWriter, *http.Request) {},
		func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Set", "1") },
	} {
		w := httptest.NewRecorder()
		s.recorded(handler).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/publish", strings.NewReader("{}")))
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("unanswered request: %d %q, want 500 with an error", w.Code, w.Body)
		}
	}
	// An answered one keeps its status.
	w := httptest.NewRecorder()
	s.recorded(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusCreated {
		t.Fatalf("answered request: %d", w.Code)
	}
}
