package client

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one dispatched event of a stream, as a browser's EventSource
// hands it over: its type, its data, and the last event ID then.
type Message struct {
	// ID is the stream's last event ID when the event was dispatched: what
	// a browser reports as lastEventId and sends back as Last-Event-ID.
	ID string
	// Type is the event field, or "message" when there was none.
	Type string
	Data string
}

// MaxLine bounds a line, so a broken or hostile stream cannot make the
// reader buffer without limit.
const MaxLine = 16 << 20

// ErrLineTooLong is returned for a line longer than MaxLine.
var ErrLineTooLong = errors.New("client: event stream line too long")

// Reader reads a text/event-stream the way a browser's EventSource
// interprets it (WHATWG HTML, §9.2.6 "Interpreting an event stream"):
// Stream reads livefeed's streams with it, and the tests and the load tool
// read raw streams with it.
type Reader struct {
	rd         io.Reader
	buf        []byte
	start, end int
	err        error
	bomChecked bool
	skipLF     bool // the last line ended in CR; an LF right after belongs to it

	data     bytes.Buffer
	typ      string
	idBuffer string
	lastID   string
	retry    time.Duration
	comments int
}

// NewReader returns a Reader reading from rd.
func NewReader(rd io.Reader) *Reader {
	return &Reader{rd: rd, buf: make([]byte, 0, 32<<10)}
}

// Next returns the next dispatched event. An event not terminated by a blank
// line before the stream ends is discarded, as a browser does. At the end
// of the stream Next returns the reader's error (io.EOF for a clean end);
// after a timeout, calling Next again reads on.
func (r *Reader) Next() (Message, error) {
	for {
		line, err := r.line()
		if err != nil {
			return Message{}, err
		}
		if len(line) > 0 {
			r.field(line)
			continue
		}
		// A blank line dispatches. The ID is taken even when there is no
		// data: a frame with only an id field moves the position.
		r.lastID = r.idBuffer
		if r.data.Len() == 0 {
			r.typ = ""
			continue
		}
		data := r.data.Bytes()
		ev := Message{ID: r.lastID, Type: r.typ, Data: string(data[:len(data)-1])}
		if ev.Type == "" {
			ev.Type = "message"
		}
		r.data.Reset()
		r.typ = ""
		return ev, nil
	}
}

// LastEventID returns the ID a browser would send on reconnecting now.
func (r *Reader) LastEventID() string { return r.lastID }

// Retry returns the last reconnection delay the stream set, or 0.
func (r *Reader) Retry() time.Duration { return r.retry }

// Comments returns how many comment lines have been read.
func (r *Reader) Comments() int { return r.comments }

func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		r.comments++
		return
	}
	if !utf8.Valid(line) {
		// The stream is decoded as UTF-8, invalid bytes becoming U+FFFD.
		line = []byte(strings.ToValidUTF8(string(line), "\uFFFD"))
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		r.typ = string(value)
	case "data":
		r.data.Write(value)
		r.data.WriteByte('\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.idBuffer = string(value)
		}
	case "retry":
		if isDigits(value) {
			if ms, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// line returns the next line without its terminator (CRLF, LF or CR). The
// slice is valid until the next call.
func (r *Reader) line() ([]byte, error) {
	for {
		if r.start < r.end {
			if !r.bomChecked {
				if r.end-r.start < 3 && r.err == nil {
					r.fill()
					continue
				}
				r.bomChecked = true
				if bytes.HasPrefix(r.buf[r.start:r.end], []byte("\uFEFF")) {
					r.start += 3
					continue
				}
			}
			if r.skipLF {
				r.skipLF = false
				if r.buf[r.start] == '\n' {
					r.start++
					continue
				}
			}
			if i := bytes.IndexAny(r.buf[r.start:r.end], "\r\n"); i >= 0 {
				line := r.buf[r.start : r.start+i]
				r.skipLF = r.buf[r.start+i] == '\r'
				r.start += i + 1
				return line, nil
			}
		}
		if r.err != nil {
			// Like bufio.Reader, report an error once: after a read
			// timeout the next call reads on.
			err := r.err
			r.err = nil
			return nil, err
		}
		r.fill()
	}
}

// fill reads more of the stream into the buffer.
func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf[:cap(r.buf)], r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == cap(r.buf) {
		if r.end >= MaxLine {
			r.err = ErrLineTooLong
			return
		}
		grown := make([]byte, r.end, 2*cap(r.buf))
		copy(grown, r.buf[:r.end])
		r.buf = grown
	}
	n, err := r.rd.Read(r.buf[r.end:cap(r.buf)])
	r.end += n
	r.buf = r.buf[:r.end]
	if err != nil {
		r.err = err
	}
}
