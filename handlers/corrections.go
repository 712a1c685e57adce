package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"livefeed/feed"
)

// Corrections and the end of a game, from the console: undoing the last
// push, and archiving a topic.

// undoField marks the data of an undo with the ID of the event it took
// back, so that the next undo goes back past that event.
const undoField = "undo_of"

// maxUndoSteps bounds the events an undo reads to find the state before
// the latest push (through undos of undos).
const maxUndoSteps = 64

// UndoForm takes back the last push of a topic: the one the operator saw.
type UndoForm struct {
	Topic string
	ID    int64 // the topic's latest event, to take back
}

// ParseUndoForm reads the undo form: topic and id.
func ParseUndoForm(v url.Values) (UndoForm, error) {
	if err := checkFields(v, "topic", "id"); err != nil {
		return UndoForm{}, err
	}
	f := UndoForm{Topic: v.Get("topic")}
	if err := feed.ValidateTopic(f.Topic); err != nil {
		return UndoForm{}, err
	}
	id, err := strconv.ParseInt(v.Get("id"), 10, 64)
	if err != nil || id <= 0 || strings.HasPrefix(v.Get("id"), "+") {
		return UndoForm{}, formError("id must be the ID of the event to undo")
	}
	f.ID = id
	return f, nil
}

// ArchiveForm ends a topic's time in the live views.
type ArchiveForm struct{ Topic string }

// ParseArchiveForm reads the archive form: topic.
func ParseArchiveForm(v url.Values) (ArchiveForm, error) {
	if err := checkFields(v, "topic"); err != nil {
		return ArchiveForm{}, err
	}
	f := ArchiveForm{Topic: v.Get("topic")}
	return f, feed.ValidateTopic(f.Topic)
}

// archiveTopic handles POST /admin/archive: the console's "End and
// archive" publishes an archive event for the topic.
func (s *Server) archiveTopic(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParseArchiveForm(form)
	if err != nil {
		return err
	}
	return s.change(w, r, sess, form, f.Topic, func(latest feed.Event) (feed.Update, error) {
		if latest.Type == feed.TypeArchive {
			return feed.Update{}, feed.Errorf(feed.ErrConflict, "%s is archived already", f.Topic)
		}
		return feed.Update{Topic: f.Topic, Type: feed.TypeArchive, Data: json.RawMessage(`{}`)}, nil
	})
}

// undo handles POST /admin/undo: one event that puts the topic back in the
// state before its latest push, so viewers see one correction instead of
// the steps of putting it right by hand. It applies only while the latest
// event is the one the operator asked to undo: a push by someone else
// meanwhile is not undone unseen.
func (s *Server) undo(w http.ResponseWriter, r *http.Request, _ string, sess *session, form url.Values) error {
	f, err := ParseUndoForm(form)
	if err != nil {
		return err
	}
	return s.change(w, r, sess, form, f.Topic, func(latest feed.Event) (feed.Update, error) {
		if latest.ID != f.ID {
			return feed.Update{}, feed.Errorf(feed.ErrConflict, "%s changed since: its latest event is #%d now, not #%d; look at it again before undoing", f.Topic, latest.ID, f.ID)
		}
		return s.undone(r.Context(), latest)
	})
}

// undone works out the update that takes latest back: the data of the
// event before the one whose state latest shows. An undo shows the state
// of the event before the one it took back, so undoing again goes on back
// from there, not forward again.
func (s *Server) undone(ctx context.Context, latest feed.Event) (feed.Update, error) {
	topic, _ := feed.ParseFilter([]string{latest.Topic})
	before := func(id int64) (feed.Event, bool, error) {
		events, _, err := s.stored.Page(ctx, feed.Range{Filter: topic, Before: id}, 1, true)
		if err != nil || len(events) == 0 {
			return feed.Event{}, false, err
		}
		return events[0], true, nil
	}
	current := latest // the event whose state the topic shows
	for range maxUndoSteps {
		var mark map[string]json.RawMessage
		json.Unmarshal(current.Data, &mark)
		undid, err := strconv.ParseInt(string(mark[undoField]), 10, 64)
		if err != nil {
			prev, found, err := before(current.ID)
			switch {
			case err != nil:
				return feed.Update{}, err
			case !found:
				return feed.Update{}, feed.Errorf(feed.ErrConflict, "nothing to undo: #%d is where %s started (archive it to take it away)", current.ID, latest.Topic)
			case prev.Type != latest.Type:
				return feed.Update{}, feed.Errorf(feed.ErrConflict, "nothing to undo: before #%d %s had a %q event", current.ID, latest.Topic, prev.Type)
			}
			data, err := decodeData(prev)
			if err != nil {
				return feed.Update{}, err
			}
			data[undoField] = json.RawMessage(strconv.FormatInt(current.ID, 10))
			raw, _ := json.Marshal(data)
			return feed.Update{Topic: latest.Topic, Type: prev.Type, Data: raw}, nil
		}
		prev, found, err := before(undid)
		if err != nil {
			return feed.Update{}, err
		}
		if !found {
			return feed.Update{}, feed.Errorf(feed.ErrConflict, "nothing more to undo for %s", latest.Topic)
		}
		current = prev
	}
	return feed.Update{}, feed.Errorf(feed.ErrConflict, "%s has been undone too many times in a row to undo further", latest.Topic)
}
