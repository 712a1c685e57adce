package store_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/store"
)

// TestOperator: the operator an update names is stored with its event and
// read back by every read (history pages, what a stream missed, a
// reopened database), and shown in an export only to an auditing reader.
func TestOperator(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/feed.db"
	s := MustOpenStoreAt(t, path, store.Options{})
	ctx := context.Background()
	tap := note("nba/g", 1)
	tap.Operator = "ann"
	appended := MustAppend(t, s, note("nba/g", 0), tap)
	if appended[0].Operator != "" || appended[1].Operator != "ann" {
		t.Fatalf("appended %+v", appended)
	}
	if _, _, err := s.AppendIf(ctx, nil, 2, feed.Update{Topic: "nba/g", Type: "note", Data: []byte(`{"n":2}`), Operator: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, []feed.Event{{ID: 4, Topic: "nba/g", Type: "note", Time: appended[0].Time, Data: []byte(`{"n":3}`), Operator: "cy"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"", "ann", "bob", "cy"}
	check := func(what string, events []feed.Event) {
		t.Helper()
		if len(events) != len(want) {
			t.Fatalf("%s: %d events", what, len(events))
		}
		for i, e := range events {
			if e.Operator != want[i] {
				t.Errorf("%s: event %d has operator %q, want %q", what, e.ID, e.Operator, want[i])
			}
		}
	}
	page, _, err := s.Page(ctx, feed.Range{}, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	check("Page", page)
	missed, err := s.Missed(ctx, 0, feed.Access{}.Narrow(feed.Filter{All: true}), 10)
	if err != nil {
		t.Fatal(err)
	}
	check("Missed", missed)

	var audit, public bytes.Buffer
	if _, err := s.Export(ctx, &audit, feed.Range{Audit: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(ctx, &public, feed.Range{}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(audit.String(), "\r\n"); !strings.HasSuffix(lines[2], ",ann") || !strings.HasSuffix(lines[4], ",cy") || !strings.HasSuffix(lines[1], ",") {
		t.Errorf("the audit export: %q", audit.String())
	}
	if strings.Contains(public.String(), "ann") || strings.Contains(public.String(), "bob") {
		t.Errorf("the public export names operators: %q", public.String())
	}

	s.Close()
	s = MustOpenStoreAt(t, path, store.Options{})
	recent, err := s.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("Recent after a reopen", recent)
}
