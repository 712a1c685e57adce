package store

import (
	"path/filepath"
	"strings"
	"testing"

	"livefeed/feed"
)

// TestReadsSeekByIndex checks the query plans of every statement History,
// Export and After run: each must seek through an index to its position,
// never scan a table from the start (a feed with years of history would
// stall every resume), and a selection of topics must seek by topic, never
// walk everybody else's events.
func TestReadsSeekByIndex(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "feed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	some, _ := feed.ParseFilter([]string{"nba/*", "x"})
	where, whereArgs := whereTopics(some)
	private, _ := feed.ParseFilter([]string{"premium/*"})
	granted, _ := feed.ParseFilter([]string{"premium/a"})
	restricted, restrictedArgs := whereVisible(feed.Access{Private: private, Granted: granted}.Narrow(feed.Filter{All: true}))
	for _, q := range []struct {
		name, sql string
		args      []any
		want      string // a piece the plan must contain
	}{
		{"WalkAll", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ? ORDER BY id LIMIT ?`,
			[]any{0, 100, 10}, "INTEGER PRIMARY KEY"},
		{"WalkAllPublic", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ?` + restricted + ` ORDER BY id LIMIT ?`,
			append(append([]any{0, 100}, restrictedArgs...), 10), "INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		{"WalkAllNewest", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ? ORDER BY id DESC LIMIT ?`,
			[]any{0, 100, 10}, "INTEGER PRIMARY KEY"},
		{"Runs", `SELECT last, first, ids FROM topic_runs WHERE topic = ? AND last > ? ORDER BY last LIMIT ?`, []any{"a", 0, 10}, "INDEX topic_runs_by_topic (topic=? AND last>?)"},
		{"RunsNewest", `SELECT last, first, ids FROM topic_runs WHERE topic = ? AND last > ? AND last < ? ORDER BY last DESC LIMIT ?`, []any{"a", 0, 10, 10}, "INDEX topic_runs_by_topic (topic=? AND last>? AND last<?)"},
		{"SweepBound", `SELECT last FROM topic_runs WHERE topic = ? AND last <= ? ORDER BY last LIMIT 1 OFFSET ?`, []any{"a", 10, 5}, "INDEX topic_runs_by_topic (topic=? AND last<?)"},
		{"Sweep", `DELETE FROM topic_runs WHERE topic = ? AND last <= ?`, []any{"a", 10}, "INDEX topic_runs_by_topic (topic=? AND last<?)"},
		{"ByID", `SELECT id, topic, type, time, data FROM events WHERE id IN (?, ?, ?) ORDER BY id`, []any{3, 5, 9}, "INTEGER PRIMARY KEY (rowid=?)"},
		{"ByIDNewest", `SELECT id, topic, type, time, data FROM events WHERE id IN (?, ?, ?) ORDER BY id DESC`, []any{3, 5, 9}, "INTEGER PRIMARY KEY (rowid=?)"},
		{"Tail", `SELECT id, topic, type, time, data FROM events WHERE id > ? AND id < ?` + where + ` ORDER BY id LIMIT ?`,
			append(append([]any{90, 100}, whereArgs...), 10), "INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		{"ExpandTopics", `SELECT topic FROM latest WHERE topic IN (?, ?) AND id > ?`, []any{"a", "b", 5}, "PRIMARY KEY (topic=?)"},
		{"ExpandPrefix", `SELECT topic FROM latest WHERE topic >= ? AND topic < ? AND id > ?`, []any{"nba/", "nba0", 5}, "PRIMARY KEY (topic>? AND topic<?)"},
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
