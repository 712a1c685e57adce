package handlers

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"livefeed/feed"
	"livefeed/feed/fanout"
)

// Who is told how many streams receive each topic (Options.Viewers,
// feed.viewers).
const (
	// ViewersOff: the audience is not counted at all.
	ViewersOff = "off"
	// ViewersOperators: operators see it, in the console and in
	// /api/topics read with the console's token; /api/topics gives the
	// public no figure.
	ViewersOperators = "operators"
	// ViewersPublic: /api/topics gives everybody the figure of every
	// topic they may see, "fewer than ViewersMin" below it.
	ViewersPublic = "public"
)

// audience returns the audience of the feed (nil where it is not
// counted): this node's, or in a cluster the sum of every node's
// (Backends.Audience).
func (s *Server) audience() *fanout.Audience {
	if s.opts.Viewers == ViewersOff {
		return nil
	}
	return s.audienceOf()
}

// operatorReads reports whether the reader of r is an operator: through
// the console's reads under /admin, or with the token the console got
// from an operator's session.
func operatorReads(r *http.Request, rd reader) bool {
	_, console := rd.credential.(consoleCredential)
	return console || isOperatorRead(r)
}

// viewersOf returns the function that appends a topic's audience to its
// entry of /api/topics for the reader of r, as Options.Viewers says: for
// an operator the exact figure, for the public the figure (or that it is
// below ViewersMin) where the public is told, else nothing. Private
// topics the reader may not see are not listed, and so not counted.
func (s *Server) viewersOf(r *http.Request, rd reader) func(body []byte, topic string) []byte {
	aud := s.audience()
	if aud == nil {
		return func(body []byte, _ string) []byte { return body }
	}
	exact := operatorReads(r, rd)
	if !exact && s.opts.Viewers != ViewersPublic {
		return func(body []byte, _ string) []byte { return body }
	}
	least := s.opts.ViewersMin
	return func(body []byte, topic string) []byte {
		n := aud.Viewers[topic] // 0 for a topic newer than the count
		if !exact && n < least {
			return strconv.AppendInt(append(body, `,"viewers_below":`...), int64(least), 10)
		}
		return strconv.AppendInt(append(body, `,"viewers":`...), int64(n), 10)
	}
}

// adminAudience handles GET /admin/audience, for a signed-in operator
// (see operatorRead): the known topics, most watched first, each with the
// open streams that receive it, and the totals of the streams. Counts
// only: nothing of who reads.
func (s *Server) adminAudience(w http.ResponseWriter, r *http.Request) {
	for name := range r.URL.Query() {
		Error(w, r, s.log, queryError("unknown parameter %q: /admin/audience takes none", name))
		return
	}
	aud := s.audience()
	if aud == nil {
		Error(w, r, s.log, feed.Errorf(feed.ErrNotFound, "the audience is not counted: feed.viewers is %q", ViewersOff))
		return
	}
	type entry struct {
		topic string
		n     int
	}
	topics := make([]entry, 0, len(aud.Viewers))
	watched := 0
	for t, n := range aud.Viewers {
		topics = append(topics, entry{t, n})
		if n > 0 {
			watched++
		}
	}
	slices.SortFunc(topics, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.topic, b.topic))
	})
	body := []byte(`{"at":"`)
	body = aud.At.UTC().AppendFormat(body, feed.TimeLayout)
	body = append(body, `","streams":`...)
	for _, f := range []struct {
		name string
		n    int
	}{{"", aud.Streams}, {"patterns", aud.Patterns}, {"delayed", aud.Delayed}, {"conflated", aud.Conflated}, {"watched_topics", watched}} {
		if f.name != "" {
			body = append(append(append(body, `,"`...), f.name...), `":`...)
		}
		body = strconv.AppendInt(body, int64(f.n), 10)
	}
	body = append(body, `,"topics":[`...)
	for i, e := range topics {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendJSONString(append(body, `{"topic":`...), e.topic)
		body = strconv.AppendInt(append(body, `,"viewers":`...), int64(e.n), 10)
		body = append(body, '}')
	}
	writeJSONBody(w, http.StatusOK, append(body, "]}\n"...))
}
