package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"livefeed/feed"
)

// Pages of GET /api/history.
const (
	defaultPage = 100
	maxPage     = feed.MaxPage
)

// maxExports bounds the CSV exports running at once. One export keeps about
// two cores busy for a second per million rows; more at once would only
// slow the feed down for everyone. Others wait their turn (exportTurns).
const maxExports = 2

// HistoryQuery is what GET /api/history asks for.
type HistoryQuery struct {
	Range       feed.Range
	Limit       int  // events per page, 1 to 1000
	NewestFirst bool // order=desc
}

// ParseHistoryQuery reads the query string of GET /api/history:
//
//	topic   a topic, a prefix such as "nba/*", or "*"; repeatable; default every topic
//	after   only events with a greater ID (paging forward)
//	before  only events with a smaller ID (paging back)
//	from    only events stored at or after this RFC 3339 time
//	to      only events stored before this RFC 3339 time
//	limit   events per page, 1 to 1000 (default 100)
//	order   "asc" (oldest first, the default) or "desc" (newest first)
//
// Unknown or repeated parameters are an error, so that a typo is not
// silently ignored.
func ParseHistoryQuery(q url.Values) (HistoryQuery, error) {
	hq := HistoryQuery{Limit: defaultPage}
	var err error
	if hq.Range, err = parseRange(q, "limit", "order"); err != nil {
		return HistoryQuery{}, err
	}
	if v, ok := q["limit"]; ok {
		n, err := parseID("limit", v[0])
		if err != nil || n < 1 || n > maxPage {
			return HistoryQuery{}, queryError("limit must be an integer from 1 to %d", maxPage)
		}
		hq.Limit = int(n)
	}
	if v, ok := q["order"]; ok {
		switch v[0] {
		case "asc":
		case "desc":
			hq.NewestFirst = true
		default:
			return HistoryQuery{}, queryError("order must be \"asc\" (oldest first) or \"desc\" (newest first)")
		}
	}
	return hq, nil
}

// TopicsQuery is what GET /api/topics asks for.
type TopicsQuery struct {
	Topics   feed.Filter // every topic unless the query names some
	Archived bool        // archived topics too
	After    string      // only topics after this one, in topic order
	Limit    int         // topics per page, 1 to 1000
}

// ParseTopicsQuery reads the query string of GET /api/topics:
//
//	topic     a topic, a prefix such as "nba/*", or "*"; repeatable; default every topic
//	archived  1: archived topics too (0, the default: not)
//	after     only topics after this one, in topic order (the next page)
//	limit     topics per page, 1 to 1000 (default 1000)
//
// Unknown or repeated parameters are an error.
func ParseTopicsQuery(q url.Values) (TopicsQuery, error) {
	tq := TopicsQuery{Topics: feed.Filter{All: true}, Limit: maxPage}
	for name, vs := range q {
		switch name {
		case "topic":
			continue
		case "archived", "after", "limit":
			if len(vs) > 1 {
				return TopicsQuery{}, queryError("%s is given %d times", name, len(vs))
			}
		default:
			return TopicsQuery{}, queryError("unknown parameter %q: the parameters are topic, archived, after and limit", name)
		}
	}
	var err error
	if tq.Archived, err = parseFlag(q, "archived"); err != nil {
		return TopicsQuery{}, err
	}
	if topics := q["topic"]; len(topics) > 0 {
		if tq.Topics, err = feed.ParseFilter(topics); err != nil {
			return TopicsQuery{}, err
		}
	}
	if v, ok := q["after"]; ok {
		if err := feed.ValidateTopic(v[0]); err != nil {
			return TopicsQuery{}, queryError("after must be a topic (the last of the page before): %v", err)
		}
		tq.After = v[0]
	}
	if v, ok := q["limit"]; ok {
		n, err := parseID("limit", v[0])
		if err != nil || n < 1 || n > maxPage {
			return TopicsQuery{}, queryError("limit must be an integer from 1 to %d", maxPage)
		}
		tq.Limit = int(n)
	}
	return tq, nil
}

// ParseExportQuery reads the query string of GET /api/export.csv: topic,
// after, before, from and to, as for ParseHistoryQuery, and bom (see
// ExportBOM).
func ParseExportQuery(q url.Values) (feed.Range, error) {
	if v, ok := q["bom"]; ok && len(v) == 1 && v[0] != "0" && v[0] != "1" {
		return feed.Range{}, queryError("bom must be 1 (start the file with a UTF-8 byte-order mark) or 0")
	}
	return parseRange(q, "bom")
}

// ExportBOM reports whether an export's query asks for a UTF-8
// byte-order mark first (bom=1): Excel takes a CSV file without one for
// the system's legacy code page and garbles any non-ASCII text.
func ExportBOM(q url.Values) bool { return q.Get("bom") == "1" }

// utf8BOM is the byte-order mark, U+FEFF in UTF-8.
const utf8BOM = "\ufeff"

// parseRange reads the parameters selecting events. The names in also are
// allowed too; their caller reads them.
func parseRange(q url.Values, also ...string) (feed.Range, error) {
	known := append([]string{"topic", "after", "before", "from", "to"}, also...)
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // report the same error for the same query
	for _, name := range names {
		if !slices.Contains(known, name) {
			return feed.Range{}, queryError("unknown parameter %q: the parameters are %s", name, strings.Join(known, ", "))
		}
		if name != "topic" && len(q[name]) > 1 {
			return feed.Range{}, queryError("parameter %q is given %d times", name, len(q[name]))
		}
	}
	var r feed.Range
	var err error
	if topics := q["topic"]; len(topics) > 0 {
		if r.Filter, err = feed.ParseFilter(topics); err != nil {
			return feed.Range{}, err
		}
	} else {
		r.Filter = feed.Filter{All: true}
	}
	if v, ok := q["after"]; ok {
		if r.After, err = parseID("after", v[0]); err != nil {
			return feed.Range{}, err
		}
	}
	if v, ok := q["before"]; ok {
		if r.Before, err = parseID("before", v[0]); err != nil {
			return feed.Range{}, err
		}
		// A zero Before is no bound; IDs start at 1, so "before 1"
		// selects exactly what "before 0" asks for: nothing.
		r.Before = max(r.Before, 1)
	}
	if v, ok := q["from"]; ok {
		if r.From, err = parseTime("from", v[0]); err != nil {
			return feed.Range{}, err
		}
	}
	if v, ok := q["to"]; ok {
		if r.To, err = parseTime("to", v[0]); err != nil {
			return feed.Range{}, err
		}
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.From.After(r.To) {
		return feed.Range{}, queryError("from (%s) is after to (%s)", q.Get("from"), q.Get("to"))
	}
	return r, nil
}

// parseID reads a non-negative decimal integer: digits only, no sign.
func parseID(name, v string) (int64, error) {
	if v == "" || len(v) > 19 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, queryError("%s must be a non-negative integer, got %q", name, v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, queryError("%s is out of range: %q", name, v)
	}
	return n, nil
}

// parseTime reads an RFC 3339 time such as 2026-11-21T19:00:00Z.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		hint := ""
		if strings.Contains(v, " ") {
			hint = " (in a URL, write the + of a time zone offset as %2B)"
		}
		return time.Time{}, queryError("%s must be an RFC 3339 time such as 2026-11-21T19:00:00Z, got %q%s", name, v, hint)
	}
	return t, nil
}

// queryError is a bad query string: 400 with a message for the client.
func queryError(format string, args ...any) error {
	return feed.Errorf(feed.ErrInvalid, format, args...)
}

// topics handles GET /api/topics: a page of the topics (or of those
// matching the topic parameters) with their latest events, in topic
// order, and the URL of the next page when there are more. A delayed topic
// comes with its latest event at least its delay old, for a reader who
// does not read it in real time (and is left out if it had none then).
func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	rd, err := s.readerOf(w, r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	q := s.withoutToken(r.URL.Query())
	tq, err := ParseTopicsQuery(q)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	latest, more, err := s.topicsPage(r, rd, tq)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	envelope := s.envelope(r)
	// The liveness of the watched topics among them (feed.stale): only
	// of topics the reader may see, which are all that are left.
	names := make([]string, len(latest))
	for i, e := range latest {
		names[i] = e.Topic
	}
	liveness := s.hub.LivenessOf(names)
	// Their audience, as much of it as the reader is told (feed.viewers):
	// where it is told none, the entries have no figure.
	viewers, _ := s.toldTo(r, rd)
	body := []byte(`{"topics":[`)
	for i, e := range latest {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"topic":`...)
		body = appendJSONString(body, e.Topic)
		if tq.Archived {
			body = append(body, `,"archived":`...)
			body = strconv.AppendBool(body, e.Type == feed.TypeArchive)
		}
		if l, ok := liveness[e.Topic]; ok {
			body = strconv.AppendBool(append(body, `,"stale":`...), l.Stale)
			if l.Stale {
				body = append(body, `,"stale_since":"`...)
				body = l.Since.AppendFormat(body, feed.TimeLayout)
				body = append(body, '"')
			}
		}
		body = viewers.appendFigure(body, e.Topic)
		body = append(body, `,"latest":`...)
		body = envelope(e, body)
		body = append(body, '}')
	}
	body = append(body, ']')
	if more {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("after", latest[len(latest)-1].Topic)
		body = append(body, `,"next":`...)
		body = appendJSONString(body, r.URL.Path+"?"+next.Encode())
	}
	writeJSONBody(w, http.StatusOK, append(body, "}\n"...))
}

// topicsPage returns a page of /api/topics: the latest events of up to
// tq.Limit topics after tq.After that the reader sees, in topic order, as
// old as its delays, archived ones only if asked; and whether more
// follow. It reads the store a page at a time until the page is full, so
// a request costs its page (and the topics it passes over), whatever the
// number of topics.
func (s *Server) topicsPage(r *http.Request, rd reader, tq TopicsQuery) ([]feed.Event, bool, error) {
	v := rd.Access.Narrow(tq.Topics)
	var out []feed.Event
	after, more := tq.After, true
	for more && len(out) < tq.Limit {
		page, m, err := s.stored.LatestPage(r.Context(), v, after, tq.Limit)
		if err != nil {
			return nil, false, err
		}
		more = m
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Topic
		// The reader's own view of each: as old as its delay, archived
		// or not as of then.
		if page, err = s.delayedLatest(r, rd, page); err != nil {
			return nil, false, err
		}
		for _, e := range page {
			if e.Type == feed.TypeArchive && !tq.Archived {
				continue
			}
			if len(out) == tq.Limit {
				return out, true, nil // this one and those after it: the next page
			}
			out = append(out, e)
		}
	}
	return out, more && len(out) > 0, nil
}

// delayedLatest replaces, for a reader of delayed topics, the latest
// event of each such topic by its latest event at least its delay old
// (see LatestAsOf), or leaves the topic out if it had none then. Each
// topic has its own delay here: a list of topics has no position to keep
// coherent. What the store held as of each delay is read for the topics
// of latest alone.
func (s *Server) delayedLatest(r *http.Request, rd reader, latest []feed.Event) ([]feed.Event, error) {
	if len(s.opts.Delayed) == 0 || isOperatorRead(r) {
		return latest, nil
	}
	names := make([]string, len(latest))
	for i, e := range latest {
		names[i] = e.Topic
	}
	then, err := s.delayedAsOf(r, rd, names)
	if err != nil {
		return nil, err
	}
	out := latest[:0:0]
	for _, e := range latest {
		if s.opts.Delayed.Of(e.Topic, rd.realtime) == 0 {
			out = append(out, e)
		} else if old, found := then[e.Topic]; found {
			out = append(out, old)
		}
	}
	return out, nil
}

// delayedAsOf returns, of topics, those delayed for the reader rd of r
// with their latest event at least their delay old (a delayed topic
// that had none then is not in it), read for those topics alone.
func (s *Server) delayedAsOf(r *http.Request, rd reader, topics []string) (map[string]feed.Event, error) {
	byDelay := map[time.Duration][]string{}
	for _, topic := range topics {
		if d := s.opts.Delayed.Of(topic, rd.realtime); d > 0 {
			byDelay[d] = append(byDelay[d], topic)
		}
	}
	then := make(map[string]feed.Event)
	for d, topics := range byDelay {
		events, _, err := s.stored.LatestAsOf(r.Context(), time.Now().Add(-d), topics...)
		if err != nil {
			return nil, err
		}
		for _, old := range events {
			then[old.Topic] = old
		}
	}
	return then, nil
}

// history handles GET /api/history: a page of stored events, and the URL of
// the next page when there are more. For a reader of delayed topics, the
// page ends at the events that old (the longest delay of its topics).
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	rd, err := s.readerOf(w, r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	q := s.withoutToken(r.URL.Query())
	hq, err := ParseHistoryQuery(q)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	hq.Range.Access = rd.Access
	delayRange(&hq.Range, s.delayFor(r, rd, hq.Range.Visible().Bounds()))
	events, more, err := s.stored.Page(r.Context(), hq.Range, hq.Limit, hq.NewestFirst)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	envelope := s.envelope(r)
	body := []byte(`{"events":[`)
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = envelope(e, body)
	}
	body = append(body, ']')
	if more {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		last := strconv.FormatInt(events[len(events)-1].ID, 10)
		if hq.NewestFirst {
			next.Set("before", last)
		} else {
			next.Set("after", last)
		}
		body = append(body, `,"next":`...)
		body = appendJSONString(body, r.URL.Path+"?"+next.Encode())
	}
	writeJSONBody(w, http.StatusOK, append(body, "}\n"...))
}

// exportCSV handles GET /api/export.csv: the selected events as a CSV file,
// streamed as it is read, in constant memory however many rows it has,
// ending, for a reader of delayed topics, at the events that old.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	rd, err := s.readerOf(w, r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	query := s.withoutToken(r.URL.Query())
	rng, err := ParseExportQuery(query)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	rng.Access = rd.Access
	delayRange(&rng, s.delayFor(r, rd, rng.Visible().Bounds()))
	rng.Audit = s.audits(r)
	done, err := s.exports.wait(r.Context(), s.clientIP(r))
	if err != nil {
		w.Header().Set("Retry-After", "10")
		Error(w, r, s.log, err)
		return
	}
	defer done()
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8; header=present")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="livefeed-%s.csv"`, time.Now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK) // the headers of the download, without reading it
		return
	}
	out := &exportWriter{w: w, rc: http.NewResponseController(w), timeout: s.opts.WriteTimeout}
	if ExportBOM(query) {
		out.bom = []byte(utf8BOM) // written with the first rows, so an export that fails at once is still a JSON error
	}
	n, err := s.stored.Export(r.Context(), out, rng)
	if err == nil {
		return
	}
	if !out.started {
		// Nothing is sent yet: answer with the JSON error, not a download.
		h.Del("Content-Disposition")
		Error(w, r, s.log, err)
		return
	}
	// The status line is out: the only way left to tell the client the
	// file is incomplete is to break the response off, so it does not take
	// a truncated file for a whole one.
	s.log.Warn("export broken off", "rows", n, "err", err)
	panic(http.ErrAbortHandler)
}

// parseFlag reads an optional yes-or-no parameter: 1 or true, 0 or false.
func parseFlag(q url.Values, name string) (bool, error) {
	vs := q[name]
	if len(vs) == 0 {
		return false, nil
	}
	if len(vs) > 1 {
		return false, queryError("%s is given %d times", name, len(vs))
	}
	switch vs[0] {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, queryError("%s must be 1 or 0", name)
}
