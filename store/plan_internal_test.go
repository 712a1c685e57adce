package store

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAfterSeeksByIndex checks the query plans of After: every filter shape
// must seek to the position through an index, never scan the table from the
// start (a feed with years of history would stall every resume).
func TestAfterSeeksByIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, patterns := range [][]string{{"*"}, {"nba/a"}, {"nba/a", "nba/b"}, {"nba/*"}, {"nba/*", "stocks/X"}} {
		f, err := ParseFilter(patterns)
		if err != nil {
			t.Fatal(err)
		}
		where, args := f.where()
		args = append(append([]any{int64(0)}, args...), 10)
		rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN SELECT id, topic, type, time, data FROM events`+f.index()+`
			WHERE id > ?`+where+` ORDER BY id LIMIT ?`, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "SEARCH") || strings.Contains(text, "SCAN") {
			t.Errorf("filter %v: plan %q does not seek by index", patterns, text)
		}
		if len(f.Prefixes) == 0 && !f.All && !strings.Contains(text, "events_topic_id") {
			t.Errorf("filter %v: plan %q does not use the topic index", patterns, text)
		}
	}
}
