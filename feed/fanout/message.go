package fanout

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"livefeed/feed"
)

// Message is one event ready for delivery. Its SSE frame is encoded once and
// the same bytes are written to every subscriber.
type Message struct {
	ID    int64
	Topic string
	Frame []byte
	// Archive is set for an archive event (feed.TypeArchive): it takes
	// its topic out of the snapshot new subscribers get. Subscribers
	// already streaming receive it like any event, and drop the topic.
	Archive bool
	// Time is the event's time (Unix milliseconds), as the log gave it:
	// a delay line releases the event by it.
	Time int64
	// keep is set for an event conflation never merges away (an archive,
	// a type of Options.NeverMerge).
	keep bool
	// finished is set, where topics are watched (Options.Stale), for an
	// event after which its topic is never stale (feed.Finished).
	finished bool
	// published is when the hub's Publish got it (Unix nanoseconds; 0
	// for an event loaded from storage), for DeliveryLag.
	published int64
	// replaced is set, under the hub's lock, once a newer event of its
	// topic is the hub's latest: a snapshot read from Hub.snap passes it.
	replaced bool
}

// Encode returns the frames of events as this hub sends them: each
// frame's data is the event's JSON envelope, with the operator who
// published it from the console when Options.ExposeOperator is set. Every
// event a subscriber gets, live, from the window or replayed from storage,
// is encoded here, so all of them have the one envelope.
func (h *Hub) Encode(events []feed.Event) []*Message {
	msgs := encode(events, h.envelope())
	watching := h.live.rules != nil
	for i, m := range msgs {
		m.keep = h.keep[events[i].Type]
		m.finished = watching && feed.Finished(events[i])
	}
	return msgs
}

// envelope is the function that appends an event's JSON envelope, as this
// hub sends it.
func (h *Hub) envelope() func(feed.Event, []byte) []byte {
	if h.opts.ExposeOperator {
		return feed.Event.AppendAuditJSON
	}
	return feed.Event.AppendJSON
}

func encode(events []feed.Event, envelope func(feed.Event, []byte) []byte) []*Message {
	msgs := make([]*Message, len(events))
	var buf []byte
	for i, e := range events {
		buf = envelope(e, buf[:0])
		msgs[i] = NewMessage(e.ID, e.Topic, e.Type, buf)
		msgs[i].Archive = e.Type == feed.TypeArchive
		msgs[i].Time = e.Time.UnixMilli()
	}
	return msgs
}

// NewMessage encodes the SSE frame of an event:
//
//	id: 42
//	event: score
//	data: {"id":42,...}
//
// The frame can only ever be read as this one event by a parser following
// the WHATWG "event stream interpretation" (HTML §9.2.6): a line break inside
// the event name is dropped and one inside data starts a new "data:" line,
// which the parser joins back with "\n" (CWE-93: no field or event can be
// injected). The store's data is compact JSON, so in practice data is one
// line.
func NewMessage(id int64, topic, event string, data []byte) *Message {
	// Sized for the frame of data on one line, so that it is allocated
	// once rather than grown four times: "id: " and 19 digits, "event: ",
	// "data: ", three line ends and the blank line.
	b := make([]byte, 0, len("id: \nevent: \ndata: \n\n")+19+len(event)+len(data))
	return &Message{ID: id, Topic: topic, Frame: AppendFrame(b, id, event, data)}
}

// AppendFrame appends the frame described at NewMessage to b.
func AppendFrame(b []byte, id int64, event string, data []byte) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '\n')
	return appendEvent(b, event, data)
}

// appendEvent appends the event and data lines of a frame and the blank line
// that dispatches it.
func appendEvent(b []byte, event string, data []byte) []byte {
	if event = stripLineBreaks(event); event != "" {
		b = append(b, "event: "...)
		b = append(b, event...)
		b = append(b, '\n')
	}
	for {
		line := data
		i := bytes.IndexAny(data, "\r\n")
		if i >= 0 {
			line = data[:i]
		}
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
		if i < 0 {
			break
		}
		// CRLF is one line break; CR and LF alone are one each.
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// stripLineBreaks removes CR and LF bytes, leaving every other byte as is.
func stripLineBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\r' && s[i] != '\n' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// positionFrame is the feed.EventPosition frame for the newest ID id:
//
//	id: 42
//	event: livefeed.position
//	data: {"last_id":42}
//
// The frame without its first line is the same event for a client whose
// last event ID is already id (the snapshot's last event was the newest
// one): IDs on a stream only ever increase, none is sent twice.
func positionFrame(id int64) []byte {
	b := append([]byte("id: "), strconv.FormatInt(id, 10)...)
	b = append(b, "\nevent: "+feed.EventPosition+"\ndata: {\"last_id\":"...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, "}\n\n"...)
}

// withoutID returns a frame of positionFrame's without its id line,
// sharing its bytes.
func withoutID(frame []byte) []byte {
	return frame[bytes.IndexByte(frame, '\n')+1:]
}

// Reasons carried by a reset event.
const (
	ResetInvalid = "invalid" // the position is not a non-negative integer
	ResetPruned  = "pruned"  // the position is older than the retained history
	ResetAhead   = "ahead"   // the position is beyond the newest event (the database was replaced)
)

// resetFrames are the "reset" events sent when a client's position cannot
// be resumed exactly, by reason; the snapshot that follows replaces its
// state. Encoded once, like every frame the hub sends to many.
var resetFrames = map[string][]byte{
	ResetInvalid: Notice("reset", ResetInvalid, "the last event ID is not a non-negative integer"),
	ResetPruned:  Notice("reset", ResetPruned, "the events after the last event ID are no longer retained"),
	ResetAhead:   Notice("reset", ResetAhead, "the last event ID is newer than any stored event"),
}

// heartbeat is a comment line: it keeps proxies from closing an idle stream
// and lets the server notice a dead connection, and clients ignore it.
var heartbeat = []byte(":\n\n")

// Events the server sends about a subscriber's token. Their names are
// reserved event types (feed.ValidateType), so no publisher can send one.
const (
	// EventExpired: the token the stream was opened with ran out, and the
	// stream ends. A client fetches a new token before it reconnects.
	EventExpired = "expired"
	// EventUnauthorized: the token was not accepted (forged, expired, not
	// yet valid, for another audience): only public events follow.
	EventUnauthorized = "unauthorized"
)

// Frame returns a frame of the server's own with data and no id: it
// leaves the client's position where it was (a notice, such as
// feed.EventDelayed).
func Frame(event string, data []byte) []byte { return appendEvent(nil, event, data) }

// Notice returns a control event of the server's, such as
// EventUnauthorized, whose data is {"reason": ..., "message": ...}.
func Notice(event, reason, message string) []byte {
	data, _ := json.Marshal(map[string]string{"reason": reason, "message": message})
	return appendEvent(nil, event, data)
}

// expiredFrame is sent to a subscriber whose token expired, last.
var expiredFrame = Notice(EventExpired, "expired", "the subscriber token has expired: fetch a new one and reconnect with it")
