package store

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHistorySeeksByIndex checks the query plans of History and Export:
// every filter shape seeks to its ID range through an index, and a page of
// several exact topics sorts at most limit rows per topic, never the
// topics' whole history.
func TestHistorySeeksByIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(t *testing.T, query string, args []any) string {
		t.Helper()
		rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "; ")
	}
	for _, patterns := range [][]string{{"*"}, {"nba/a"}, {"nba/a", "nba/b"}, {"nba/a", "nba/b", "nba/c"}, {"nba/*"}, {"nba/*", "stocks/X"}} {
		f, err := ParseFilter(patterns)
		if err != nil {
			t.Fatal(err)
		}
		for _, newest := range []bool{false, true} {
			query, args := pageQuery(f, 10, 1000, 50, newest)
			text := plan(t, query, args)
			if !strings.Contains(text, "SEARCH") || strings.Contains(text, "SCAN events") {
				t.Errorf("History %v: plan %q does not seek by index", patterns, text)
			}
			if len(f.Topics) > 0 && len(f.Prefixes) == 0 && !strings.Contains(text, "events_topic_id") {
				t.Errorf("History %v: plan %q does not use the topic index", patterns, text)
			}
		}
		query, args := windowQuery(f)
		args[0], args[1] = int64(10), int64(1000)
		text := plan(t, query, args)
		if !strings.Contains(text, "SEARCH") || strings.Contains(text, "SCAN events") {
			t.Errorf("Export %v: plan %q does not seek by index", patterns, text)
		}
	}
}
