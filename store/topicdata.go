package store

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sort"
	"strings"
	"time"

	"livefeed/feed"
)

// topic_data holds the events of each row of topic_runs, so that reading a
// topic's history reads its events a run at a time. A row's events are
// records, one per ID of the run in its order, each its length (an
// unsigned varint) and then:
//
//	time      unsigned varint, Unix milliseconds
//	type      unsigned varint length, bytes
//	operator  unsigned varint length, bytes (none: 0)
//	data      the rest
//
// The writer keeps each committed event's record in a stash until the
// indexing pass that writes its run (store/index.go).

// errBadData is a row of topic_data that does not decode, or whose events
// do not match its checksum (sum): the database is damaged. A read then
// takes the row's events from the events table.
var errBadData = errors.New("topic_data holds a damaged row")

// errBadSum is a row whose events do not match its checksum.
var errBadSum = fmt.Errorf("%w (its checksum does not match)", errBadData)

// castagnoli is the table of CRC-32C, which the CPU computes itself on
// most machines.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dataSum is the checksum of a row of topic_data's events, as stored in
// its sum column.
func dataSum(events []byte) int64 { return int64(crc32.Checksum(events, castagnoli)) }

// appendRecord appends e's record.
func appendRecord(b []byte, e feed.Event) []byte {
	ms := uint64(e.Time.UnixMilli())
	n := uvarintLen(ms) + uvarintLen(uint64(len(e.Type))) + len(e.Type) +
		uvarintLen(uint64(len(e.Operator))) + len(e.Operator) + len(e.Data)
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, ms)
	b = binary.AppendUvarint(b, uint64(len(e.Type)))
	b = append(b, e.Type...)
	b = binary.AppendUvarint(b, uint64(len(e.Operator)))
	b = append(b, e.Operator...)
	return append(b, e.Data...)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// records returns the records of a row of topic_data, each without its
// length.
func records(blob []byte) ([][]byte, error) {
	var out [][]byte
	for len(blob) > 0 {
		n, size := binary.Uvarint(blob)
		if size <= 0 || n == 0 || n > uint64(len(blob)-size) {
			return nil, errBadData
		}
		out = append(out, blob[size:size+int(n)])
		blob = blob[size+int(n):]
	}
	return out, nil
}

// readRecord fills e's time, type, operator and data from rec, with its
// bytes copied into buf.
func readRecord(rec []byte, e *feed.Event, buf *eventBuf) error {
	field := func() ([]byte, bool) {
		n, size := binary.Uvarint(rec)
		if size <= 0 || n > uint64(len(rec)-size) {
			return nil, false
		}
		f := rec[size : size+int(n)]
		rec = rec[size+int(n):]
		return f, true
	}
	ms, size := binary.Uvarint(rec)
	if size <= 0 || ms > 1<<62 {
		return errBadData
	}
	rec = rec[size:]
	typ, ok := field()
	if !ok || len(typ) == 0 {
		return errBadData
	}
	operator, ok := field()
	if !ok {
		return errBadData
	}
	e.Time = time.UnixMilli(int64(ms)).UTC()
	e.Type = buf.name(typ)
	e.Operator = ""
	if len(operator) > 0 {
		e.Operator = buf.name(operator)
	}
	e.Data = buf.bytes(rec)
	return nil
}

// stash holds, by topic, the records of the events committed since the
// last indexing pass, until a pass writes them. Only the writer uses it.
type stash struct {
	topics map[string]*stashed
	size   int // bytes held, about
	peak   int // the most topics it held since topics was made
}

// stashed is a topic's records: that of ids[i] ends at ends[i] in buf.
type stashed struct {
	ids  []int64 // ascending
	ends []int
	buf  []byte
}

// stashedBytes is what the stash holds for each event beyond its record.
const stashedBytes = 16

// add records events, in ID order.
func (s *stash) add(events []feed.Event) {
	if s.topics == nil {
		s.topics = make(map[string]*stashed)
	}
	for _, e := range events {
		t := s.topics[e.Topic]
		if t == nil {
			t = new(stashed)
			s.topics[e.Topic] = t
		}
		n := len(t.buf)
		t.buf = appendRecord(t.buf, e)
		t.ids = append(t.ids, e.ID)
		t.ends = append(t.ends, len(t.buf))
		s.size += len(t.buf) - n + stashedBytes
	}
}

// records returns the records of ids (ascending) of topic, or nil if the
// stash does not hold them all.
func (s *stash) records(topic string, ids []int64) []byte {
	t := s.topics[topic]
	if t == nil || len(ids) == 0 {
		return nil
	}
	i := sort.Search(len(t.ids), func(i int) bool { return t.ids[i] >= ids[0] })
	j := i + len(ids)
	// Both are every committed ID of the topic in their range: the same
	// first, last and count are the same IDs.
	if j > len(t.ids) || t.ids[i] != ids[0] || t.ids[j-1] != ids[len(ids)-1] {
		return nil
	}
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.buf[start:t.ends[j-1]]
}

// drop forgets the records of IDs up to through.
func (s *stash) drop(through int64) {
	s.size = 0
	s.peak = max(s.peak, len(s.topics))
	for topic, t := range s.topics {
		i := sort.Search(len(t.ids), func(i int) bool { return t.ids[i] > through })
		switch {
		case i == len(t.ids):
			delete(s.topics, topic)
			continue
		case i > 0:
			cut := t.ends[i-1]
			ends := t.ends[i:]
			for k := range ends {
				ends[k] -= cut
			}
			t = &stashed{
				ids:  append([]int64(nil), t.ids[i:]...),
				ends: append([]int(nil), ends...),
				buf:  append([]byte(nil), t.buf[cut:]...),
			}
			s.topics[topic] = t
		}
		s.size += len(t.buf) + len(t.ids)*stashedBytes
	}
	s.topics, s.peak = shrunk(s.topics, s.peak)
}

// source is where a read finds an ID's event in topic_data: its place in
// the run whose row of topic_runs has rowid run and last ID last, of the
// read's topic at index topic; run 0 for an ID the read takes from the
// events table. It holds no pointer: a read keeps one per ID.
type source struct {
	run, last    int64
	place, topic int32
}

// fewFromRun is how many events a read takes from a run before it reads
// them from its row of topic_data rather than the events table.
const fewFromRun = 4

// runEvents are the records of rows of topic_data a read has loaded, by
// run; nil for a run with no row.
type runEvents map[int64][][]byte

// fetchEvents appends the events of ids (in the merge's order) to dst:
// from topic_data where srcs say a run of one of topics holds them, from
// the events table for the rest.
func (q *runQuery) fetchEvents(topics []string, ids []int64, srcs []source, newestFirst bool, buf *eventBuf, dst []feed.Event) ([]feed.Event, error) {
	start := len(dst)
	var holes []int // places in dst of events to read from the table
	var missing []any
	// A run the read takes only a few events of is not worth its row: the
	// table finds them with one statement for all (a sparse prefix's
	// topics have an event or two each).
	wanted := make(map[int64]int)
	for _, src := range srcs {
		if src.run != 0 {
			wanted[src.run]++
		}
	}
	loaded := runEvents{}
	for i, id := range ids {
		src := srcs[i]
		if src.run != 0 && wanted[src.run] >= fewFromRun {
			recs, err := q.runRecords(loaded, src)
			if err != nil {
				return dst, err
			}
			if int(src.place) < len(recs) {
				e := feed.Event{ID: id, Topic: topics[src.topic]}
				if err := readRecord(recs[src.place], &e, buf); err == nil {
					dst = append(dst, e)
					continue
				}
				q.damaged(loaded, src.run, fmt.Errorf("%w (ID %d)", errBadData, id))
			}
		}
		holes = append(holes, len(dst))
		missing = append(missing, id)
		dst = append(dst, feed.Event{ID: id})
	}
	if len(missing) == 0 {
		return dst, nil
	}
	dir := ""
	if newestFirst {
		dir = " DESC"
	}
	found, err := scanEvents(q.ctx, q.tx, buf, nil, `SELECT id, topic, type, time, data, operator FROM events
		WHERE id IN (?`+strings.Repeat(", ?", len(missing)-1)+`) ORDER BY id`+dir, missing...)
	if err != nil {
		return dst, err
	}
	// Fill the holes in order; one the table did not return is left out.
	k := 0
	for _, h := range holes {
		if k < len(found) && found[k].ID == dst[h].ID {
			dst[h] = found[k]
			k++
		} else {
			dst[h].ID = 0
		}
	}
	out := dst[:start]
	for _, e := range dst[start:] {
		if e.ID != 0 {
			out = append(out, e)
		}
	}
	return out, nil
}

// runRecords returns the records of src's run, loading its row of
// topic_data the first time: nil if it has none for that run.
func (q *runQuery) runRecords(loaded runEvents, src source) ([][]byte, error) {
	if recs, ok := loaded[src.run]; ok {
		return recs, nil
	}
	if q.data == nil {
		var err error
		if q.data, err = q.tx.PrepareContext(q.ctx, `SELECT last, events, sum FROM topic_data WHERE run = ?`); err != nil {
			return nil, err
		}
	}
	var last int64
	var blob []byte
	var sum sql.NullInt64 // none in rows written before the column
	err := q.data.QueryRowContext(q.ctx, src.run).Scan(&last, &blob, &sum)
	var recs [][]byte
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case last == src.last:
		if sum.Valid && sum.Int64 != dataSum(blob) {
			q.damaged(loaded, src.run, errBadSum)
			return nil, nil
		}
		if recs, err = records(blob); err != nil {
			q.damaged(loaded, src.run, err)
			return nil, nil
		}
	}
	loaded[src.run] = recs
	return recs, nil
}

// damaged notes a damaged row of topic_data (errBadData): the read takes
// the run's events from the events table, which holds every event (the
// row is a copy of them), and the operator learns that the database is
// damaged.
func (q *runQuery) damaged(loaded runEvents, run int64, err error) {
	loaded[run] = nil
	q.bad.note(run, err)
}

// badData logs the rows of topic_data that reads find damaged, at most one
// line per interval every (a damaged row of a topic many clients resume
// would otherwise log a line a read); the next line says how many were
// left out.
type badData struct {
	log    *slog.Logger
	every  time.Duration
	rarely feed.Rarely
}

func (b *badData) note(run int64, err error) {
	skipped, due := b.rarely.Due(b.every)
	if !due {
		return
	}
	attrs := []any{"run", run, "err", err}
	if skipped > 0 {
		attrs = append(attrs, "not_logged_since_last", skipped)
	}
	b.log.Warn("a row of topic_data is damaged (err says how); its events are read from the events table (the database file is damaged: check the disk)", attrs...)
}

// stashEvents keeps what the writer needs of events just committed: their
// IDs by topic for reads (recent), and their records for the pass that
// writes their runs, unless the stash is full (stashCap). A run some of
// whose events the stash skipped gets no row of topic_data (records
// checks that it holds every ID of the run).
func (s *Store) stashEvents(events []feed.Event) {
	s.recent.add(events)
	if s.stash.size < s.stashCap {
		s.stash.add(events)
	}
}
