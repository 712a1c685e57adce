package bench

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// Frame is one block of a livefeed event stream: the lines up to the blank
// line that ends them. Its slices point into the Scanner's buffer and are
// valid until the next call to Next.
type Frame struct {
	// HasID is set when the frame has an id line; ID is its value, or -1
	// when it is not a decimal int64 (livefeed never sends one).
	HasID bool
	ID    int64
	// Event is the value of the last event line (empty when there is none).
	Event []byte
	// HasData is set when the frame has at least one data line. Data is
	// their values joined with "\n", as an EventSource joins them.
	HasData bool
	Data    []byte
}

// ErrFrameTooLong is returned for a frame longer than MaxFrame.
var ErrFrameTooLong = errors.New("bench: event stream frame too long")

// MaxFrame bounds one frame: an event's data is at most 64 KiB of JSON
// (feed.MaxDataBytes), and its envelope adds a few hundred bytes.
const MaxFrame = 1 << 20

// Scanner splits a livefeed event stream into frames without decoding JSON
// or allocating per frame: livefeed writes each frame as "id:", "event:"
// and "data:" lines ending in LF (feed.AppendFrame), so the scanner looks
// for LF only. It follows the field rules of WHATWG HTML §9.2.6 otherwise
// (a colon, then one optional space; a line starting with a colon is a
// comment; unknown fields are ignored). It does not handle CR line endings
// or a byte order mark, which livefeed never writes.
type Scanner struct {
	rd         io.Reader
	buf        []byte
	start, end int
	searched   int // bytes before this offset hold no "\n\n"
	err        error
	joined     []byte // data lines of a multi-line frame, joined
	readAt     time.Time
	reads      int
	bytes      int64
}

// NewScanner returns a Scanner reading rd with a buffer of size bytes (it
// grows up to MaxFrame for a longer frame). buffered are bytes already read
// from rd that come first, such as the start of the body read along with
// the response headers.
func NewScanner(rd io.Reader, size int, buffered []byte) *Scanner {
	size = max(size, len(buffered), 256)
	s := &Scanner{rd: rd, buf: make([]byte, size)}
	s.end = copy(s.buf, buffered)
	if s.end > 0 {
		s.readAt = time.Now()
	}
	return s
}

// ReadAt returns when the bytes of the frame last returned by Next were
// read from the stream: the receipt time of its event.
func (s *Scanner) ReadAt() time.Time { return s.readAt }

// Reads returns how many reads from the stream returned data.
func (s *Scanner) Reads() int { return s.reads }

// Bytes returns how many bytes of the stream were read.
func (s *Scanner) Bytes() int64 { return s.bytes }

// Next returns the next frame. A frame cut off by the end of the stream is
// discarded, as an EventSource discards it.
func (s *Scanner) Next() (Frame, error) {
	for {
		// Search only the bytes not searched before (less one, which may
		// be the first LF of the pair), so a long frame arriving in many
		// reads is not searched over and over.
		from := max(s.start, s.searched-1)
		if i := bytes.Index(s.buf[from:s.end], []byte("\n\n")); i >= 0 {
			end := from + i
			block := s.buf[s.start : end+1] // keeps the last line's LF
			s.start = end + 2
			s.searched = s.start
			return s.parse(block), nil
		}
		s.searched = s.end
		if s.err != nil {
			err := s.err
			s.err = nil
			return Frame{}, err
		}
		s.fill()
	}
}

// fill reads more of the stream, first moving unread bytes to the front
// and growing the buffer if a frame does not fit.
func (s *Scanner) fill() {
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.searched -= s.start
		s.start = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= MaxFrame {
			s.err = ErrFrameTooLong
			return
		}
		grown := make([]byte, min(2*len(s.buf), MaxFrame))
		copy(grown, s.buf[:s.end])
		s.buf = grown
	}
	n, err := s.rd.Read(s.buf[s.end:])
	if n > 0 {
		s.end += n
		s.readAt = time.Now()
		s.reads++
		s.bytes += int64(n)
	}
	if err != nil {
		s.err = err
	}
}

// parse reads the lines of one frame; block ends with the LF of its last
// line.
func (s *Scanner) parse(block []byte) Frame {
	f := Frame{ID: -1}
	dataLines := 0
	for len(block) > 0 {
		i := bytes.IndexByte(block, '\n')
		line := block[:i]
		block = block[i+1:]
		if len(line) == 0 || line[0] == ':' {
			continue // comment (heartbeat, preamble)
		}
		name, value := line, line[len(line):]
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			name, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) { // no allocation: the compiler compares in place
		case "id":
			if bytes.IndexByte(value, 0) >= 0 {
				continue // WHATWG: an id containing NUL is ignored
			}
			f.HasID = true
			f.ID = parseID(value)
		case "event":
			f.Event = value
		case "data":
			f.HasData = true
			switch dataLines {
			case 0:
				f.Data = value
			case 1:
				s.joined = append(append(append(s.joined[:0], f.Data...), '\n'), value...)
				f.Data = s.joined
			default:
				s.joined = append(append(s.joined, '\n'), value...)
				f.Data = s.joined
			}
			dataLines++
		}
	}
	return f
}

// parseID reads a decimal int64, or returns -1.
func parseID(b []byte) int64 {
	if len(b) == 0 || len(b) > 19 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return -1
		}
		n = n*10 + d
	}
	return n
}
