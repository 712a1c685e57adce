package handlers_test

import (
	"net/url"
	"strconv"
	"testing"

	"livefeed/feed"
	"livefeed/handlers"
)

// TestCorrections: through the console, an undo puts the game back one
// push at a time (one event each), only while the push it names is the
// latest; a final game's score changes only when confirmed; "End and
// archive" publishes one archive event.
func TestCorrections(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t, false)
	c := newConsole(t, a)
	c.login(operatorName, operatorPassword)
	push := c.push
	score := func(ans formAnswer) string {
		return strconv.Itoa(int(ans.Event.Data["home_score"].(float64))) + "-" + strconv.Itoa(int(ans.Event.Data["away_score"].(float64)))
	}
	const topic = "nba/g"
	created := push(t, 201, "/admin/games", "topic", topic, "home", "A", "away", "B")
	push(t, 201, "/admin/score", "topic", topic, "home_points", "3")                     // 3-0
	three := push(t, 201, "/admin/score", "topic", topic, "away_points", "3")            // 3-3, meant for home
	push(t, 409, "/admin/undo", "topic", topic, "id", strconv.FormatInt(created.ID, 10)) // not the latest
	u1 := push(t, 201, "/admin/undo", "topic", topic, "id", strconv.FormatInt(three.ID, 10))
	if score(u1) != "3-0" || u1.ID != three.ID+1 {
		t.Fatalf("first undo: %+v", u1)
	}
	u2 := push(t, 201, "/admin/undo", "topic", topic, "id", strconv.FormatInt(u1.ID, 10))
	if score(u2) != "0-0" || u2.Event.Data["status"] != "scheduled" {
		t.Fatalf("second undo: %+v", u2)
	}
	push(t, 409, "/admin/undo", "topic", topic, "id", strconv.FormatInt(u2.ID, 10)) // back where it started
	set := push(t, 201, "/admin/score", "topic", topic, "home_score", "6", "away_score", "0", "status", "final")
	if score(set) != "6-0" || set.Event.Data[undoMark] != nil {
		t.Fatalf("set score: %+v", set)
	}
	last := a.store.LastID()
	push(t, 409, "/admin/score", "topic", topic, "home_points", "1")
	push(t, 409, "/admin/score", "topic", topic, "home_score", "7")
	if a.store.LastID() != last {
		t.Fatal("an unconfirmed change of a final game was published")
	}
	push(t, 201, "/admin/score", "topic", topic, "status", "live") // not a change of the score
	push(t, 201, "/admin/score", "topic", topic, "status", "final")
	if ans := push(t, 201, "/admin/score", "topic", topic, "home_points", "1", "final_ok", "1"); score(ans) != "7-0" {
		t.Fatalf("confirmed: %+v", ans)
	}
	if ans := push(t, 201, "/admin/archive", "topic", topic); ans.Event.Type != feed.TypeArchive {
		t.Fatalf("archive: %+v", ans)
	}
	push(t, 409, "/admin/archive", "topic", topic)
	push(t, 404, "/admin/archive", "topic", "nba/none")
	push(t, 400, "/admin/undo", "topic", topic, "id", "x")
}

// undoMark is the field an undo leaves in the data (handlers.undoField).
const undoMark = "undo_of"

func TestParseUndoForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		err  string
	}{
		{"OK", form("topic", "nba/g", "id", "42"), ""},
		{"ErrID", form("topic", "nba/g", "id", "0"), "id must be"},
		{"ErrIDPlus", form("topic", "nba/g", "id", "+4"), "id must be"},
		{"ErrIDMissing", form("topic", "nba/g"), "id must be"},
		{"ErrTopic", form("topic", "a b", "id", "4"), "not allowed"},
		{"ErrField", form("topic", "nba/g", "id", "4", "x", "1"), "unknown form field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParseUndoForm(tc.form)
			if tc.err != "" {
				wantFormError(t, err, tc.err)
				return
			}
			if err != nil || f.ID != 42 || f.Topic != "nba/g" {
				t.Fatalf("%+v, %v", f, err)
			}
		})
	}
}
