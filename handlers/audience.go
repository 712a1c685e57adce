package handlers

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

// told is what a reader is told of the audience: a count (nil: nothing),
// and its figures exact, or below least "fewer than least".
type told struct {
	aud   *fanout.Audience
	exact bool
	least int
}

// toldTo returns what the reader of r is told of the audience, as
// Options.Viewers says: an operator the exact figures, the public the
// figures (or that they are below ViewersMin) where the public is told;
// else nothing, and why (a not-found error). /api/topics and /api/viewers
// both ask here. Which topics a reader is told of is theirs to choose:
// never a private topic it may not see.
func (s *Server) toldTo(r *http.Request, rd reader) (told, error) {
	aud := s.audience()
	if aud == nil {
		return told{}, feed.Errorf(feed.ErrNotFound, "the audience is not counted: feed.viewers is %q", ViewersOff)
	}
	exact := operatorReads(r, rd)
	if !exact && s.opts.Viewers != ViewersPublic {
		return told{}, feed.Errorf(feed.ErrNotFound, "the audience is told to operators only: feed.viewers is %q (%q tells the public)", s.opts.Viewers, ViewersPublic)
	}
	return told{aud: aud, exact: exact, least: s.opts.ViewersMin}, nil
}

// appendFigure appends to a topic's JSON object its figure as t tells
// it: `,"viewers":N`, or `,"viewers_below":M`; nothing where t tells
// nothing. A topic newer than the count has 0.
func (t told) appendFigure(body []byte, topic string) []byte {
	if t.aud == nil {
		return body
	}
	n := t.aud.Viewers[topic]
	if !t.exact && n < t.least {
		return strconv.AppendInt(append(body, `,"viewers_below":`...), int64(t.least), 10)
	}
	return strconv.AppendInt(append(body, `,"viewers":`...), int64(n), 10)
}

// ParseViewersQuery reads the query string of GET /api/viewers (without
// its token, see withoutToken): topic, a topic, a prefix such as "nba/*"
// or "*", repeatable and required, at most feed.MaxPatterns, as for
// /events. Any other parameter is an error.
func ParseViewersQuery(q url.Values) (feed.Filter, error) {
	for name := range q {
		if name != "topic" {
			return feed.Filter{}, queryError("unknown parameter %q: /api/viewers takes topic (repeatable)", name)
		}
	}
	return feed.ParseFilter(q["topic"])
}

// viewers handles GET /api/viewers?topic=P: how many streams receive
// each topic of the patterns that the reader may see, and nothing else
// (no events), for a widget's "N watching" (data-viewers). Who is told
// what is /api/topics' rule (toldTo), and so is which topics are listed:
// the known ones (archived left out) the reader's access allows, a
// delayed one only once it had an event as old as its delay; where the
// reader is told nothing, 404 says why.
//
// The figures change once per count (Backends.AudienceEvery), and a page
// of a popular game asks for them every few seconds from each visitor:
// the public's answers are encoded once per count and query
// (viewerAnswers), and cacheable by browsers and proxies until the next
// count, with an ETag of the figures to revalidate them with (a count
// that changed nothing is a 304). A reader with a token is answered
// for itself alone, never stored.
func (s *Server) viewers(w http.ResponseWriter, r *http.Request) {
	rd, err := s.readerOf(w, r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f, err := ParseViewersQuery(s.withoutToken(r.URL.Query()))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	t, err := s.toldTo(r, rd)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	h := w.Header()
	if rd.credential != nil || t.exact {
		body, err := s.viewersBody(r, rd, t, f)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		h.Set("Cache-Control", "private, no-store")
		writeJSONBody(w, http.StatusOK, body)
		return
	}
	a, err := s.viewerAnswers.answer(t.aud, f.String(), func() ([]byte, error) { return s.viewersBody(r, rd, t, f) })
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	// Fresh until the next count: the figures a client has are the
	// latest until then. In a cluster the count is the oldest of the
	// nodes' latest (fanout.Sum), each as young as an interval or
	// nearly, and is cached a little less.
	left := time.Until(t.aud.At.Add(s.audienceEvery))
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(max(left, 0)/time.Second)))
	h.Set("ETag", a.etag)
	if matchesETag(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSONBody(w, http.StatusOK, a.body)
}

// viewersBody is the answer of /api/viewers to rd, told t, for the
// topics of f: {"topics":[{"topic":T,"viewers":N},...]} in topic order.
func (s *Server) viewersBody(r *http.Request, rd reader, t told, f feed.Filter) ([]byte, error) {
	var names []string
	if !f.All && len(f.Prefixes) == 0 {
		for _, topic := range f.Topics {
			if _, known := t.aud.Viewers[topic]; known {
				names = append(names, topic)
			}
		}
	} else {
		for topic := range t.aud.Viewers {
			if f.Match(topic) {
				names = append(names, topic)
			}
		}
	}
	names = slices.DeleteFunc(names, func(topic string) bool { return !rd.Allows(topic) })
	if len(s.opts.Delayed) > 0 && !isOperatorRead(r) {
		then, err := s.delayedAsOf(r, rd, names)
		if err != nil {
			return nil, err
		}
		names = slices.DeleteFunc(names, func(topic string) bool {
			_, found := then[topic]
			return s.opts.Delayed.Of(topic, rd.realtime) > 0 && !found
		})
	}
	slices.Sort(names)
	body := []byte(`{"topics":[`)
	for i, topic := range names {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendJSONString(append(body, `{"topic":`...), topic)
		body = append(t.appendFigure(body, topic), '}')
	}
	return append(body, "]}\n"...), nil
}

// The answers of /api/viewers kept for the public, per count: a query
// names up to 64 patterns, so there are more queries than a count may
// keep answers of. Past these bounds an answer is encoded for its
// request alone.
const (
	maxViewerAnswers     = 1024
	maxViewerAnswerBytes = 4 << 20
)

// viewerAnswers are the public's answers of /api/viewers to the latest
// count, by query (its patterns, normalized): each encoded once, by the
// first request of its query, however many ask until the next count.
type viewerAnswers struct {
	mu      sync.Mutex
	of      *fanout.Audience // the count they are answers to
	answers map[string]viewerAnswer
	bytes   int
}

// viewerAnswer is an answer of /api/viewers and its ETag: a digest of
// the body, so that a new count that changes none of a query's figures
// revalidates what a client has.
type viewerAnswer struct {
	body []byte
	etag string
}

// answer returns the answer of query to the count aud, encoding it with
// encode if it is not kept. Two requests of a new query at once may both
// encode it: that is cheaper than making either wait.
func (va *viewerAnswers) answer(aud *fanout.Audience, query string, encode func() ([]byte, error)) (viewerAnswer, error) {
	va.mu.Lock()
	if va.of != aud {
		va.of, va.answers, va.bytes = aud, make(map[string]viewerAnswer), 0
	}
	a, ok := va.answers[query]
	va.mu.Unlock()
	if ok {
		return a, nil
	}
	body, err := encode()
	if err != nil {
		return viewerAnswer{}, err
	}
	sum := sha256.Sum256(body)
	a = viewerAnswer{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
	va.mu.Lock()
	if va.of == aud && len(va.answers) < maxViewerAnswers && va.bytes+len(body) <= maxViewerAnswerBytes {
		va.answers[query] = a
		va.bytes += len(body)
	}
	va.mu.Unlock()
	return a, nil
}

// matchesETag reports whether an If-None-Match header names etag, or is
// "*": the weak comparison its check uses (RFC 9110 §13.1.2).
func matchesETag(header, etag string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
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
