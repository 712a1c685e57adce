package store

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReadsSeekByIndex checks the query plans of every statement After
// runs: each must seek through an index to its position, never scan a
// table from the start (a feed with years of history would stall every
// resume).
func TestReadsSeekByIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, _ := ParseFilter([]string{"nba/*", "x"})
	where, whereArgs := all.where()
	for _, q := range []struct {
		name, sql string
		args      []any
		want      string // a piece the plan must contain
	}{
		{"Walk", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ?` + where + ` ORDER BY id LIMIT ?`,
			append(append([]any{0, 100}, whereArgs...), 10), "INTEGER PRIMARY KEY"},
		{"WalkNewest", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ?` + where + ` ORDER BY id DESC LIMIT ?`,
			append(append([]any{0, 100}, whereArgs...), 10), "INTEGER PRIMARY KEY"},
		{"Indexed", `SELECT e.id, e.topic, e.type, e.time, e.data FROM topic_index x JOIN events e ON e.id = x.id
			WHERE x.topic = ? AND x.id > ? AND x.id < ? ORDER BY x.id LIMIT ?`, []any{"a", 0, 10, 10}, "PRIMARY KEY (topic=? AND id>? AND id<?)"},
		{"IndexedNewest", `SELECT e.id, e.topic, e.type, e.time, e.data FROM topic_index x JOIN events e ON e.id = x.id
			WHERE x.topic = ? AND x.id > ? AND x.id < ? ORDER BY x.id DESC LIMIT ?`, []any{"a", 0, 10, 10}, "PRIMARY KEY (topic=? AND id>? AND id<?)"},
		{"Tail", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ? AND topic IN (?, ?) ORDER BY id LIMIT ?`,
			[]any{0, 100, "a", "b", 10}, "INTEGER PRIMARY KEY"},
		{"Expand", `SELECT topic FROM latest WHERE topic >= ? AND topic < ? LIMIT ?`, []any{"nba/", "nba0", 33}, "PRIMARY KEY (topic>? AND topic<?)"},
		{"PruneIndex", `DELETE FROM topic_index WHERE (topic, id) IN (SELECT topic, id FROM events WHERE id > ? AND id <= ?)`, []any{0, 10}, "PRIMARY KEY (topic=? AND id=?)"},
		{"FirstAt", `SELECT time FROM events WHERE id >= ? ORDER BY id LIMIT 1`, []any{5}, "INTEGER PRIMARY KEY (rowid>?)"},
	} {
		rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+q.sql, q.args...)
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
		if strings.Contains(text, "SCAN") || strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, q.want) {
			t.Errorf("%s: plan %q, want a seek using %s", q.name, text, q.want)
		}
	}
}
