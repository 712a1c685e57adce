package bench

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"livefeed/feed"
)

// BareEndpoint is the yardstick W1, W4 and W9 measure livefeed against:
// POST /api/publish on net/http that reads the body and answers 201 with
// the next ID, as livefeed does, and does nothing else — no validation, no
// storage. What livefeed costs beyond it is what its checks and its
// durability cost. An NDJSON body is answered a line per line, {"id":N}
// each, streamed as the lines arrive. GET /events is the bare fan-out
// sketch: every stream, whatever its topic, gets every single publish as
// one pre-encoded frame (id: N, data: the request body), written to its
// socket by one of two goroutines that each own half the streams — no
// hub, no window, no resume. GET /healthz answers as livefeed's does, so
// the load tool can drive both the same way.
//
// The program in feed/bench/bare serves it.
func BareEndpoint() http.Handler {
	var last atomic.Int64
	bodies := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	fan := newBareFanout()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/publish", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == ndjson {
			bareStream(w, r, &last)
			return
		}
		body := bodies.Get().(*bytes.Buffer)
		body.Reset()
		_, err := body.ReadFrom(r.Body)
		if err != nil {
			bodies.Put(body)
			http.Error(w, `{"error":"the request body could not be read"}`, http.StatusBadRequest)
			return
		}
		id := last.Add(1)
		if fan.streams.Load() > 0 {
			fan.publish(id, body.Bytes())
		}
		bodies.Put(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(strconv.AppendInt([]byte(`{"id":`), id, 10))
		io.WriteString(w, "}\n")
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		conn.SetDeadline(time.Time{})
		fan.subscribe(conn, last.Load())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		b := strconv.AppendInt([]byte(`{"status":"ok","subscribers":`), fan.streams.Load(), 10)
		b = strconv.AppendInt(append(b, `,"last_id":`...), last.Load(), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(os.Getpid()), 10)
		w.Write(append(b, "}\n"...))
	})
	return mux
}

// ndjson is the media type of a streaming publish.
const ndjson = "application/x-ndjson"

// bareStream answers each line of an NDJSON body with {"id":N} as it
// arrives, flushing whenever no more of the body is at hand.
func bareStream(w http.ResponseWriter, r *http.Request, last *atomic.Int64) {
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.Header().Set("Content-Type", ndjson)
	w.WriteHeader(http.StatusOK)
	rc.Flush() // the publisher waits for the response to start before it sends
	buf := make([]byte, 64<<10)
	out := make([]byte, 0, 64<<10)
	for {
		n, err := r.Body.Read(buf)
		for _, c := range buf[:n] {
			if c == '\n' {
				out = strconv.AppendInt(append(out, `{"id":`...), last.Add(1), 10)
				out = append(out, "}\n"...)
			}
		}
		if len(out) > 0 {
			w.Write(out)
			rc.Flush()
			out = out[:0]
		}
		if err != nil {
			return
		}
	}
}

// bareFanout is the bare fan-out sketch: two lanes, each a goroutine that
// owns half the streams and writes every frame to each of them in turn,
// in the order published. A stream whose write fails is closed and left;
// one goroutine a stream waits for its client to hang up.
type bareFanout struct {
	lanes   [2]*bareLane
	next    atomic.Uint32
	streams atomic.Int64
}

type bareLane struct {
	mu     sync.Mutex
	conns  []net.Conn
	frames chan []byte
}

func newBareFanout() *bareFanout {
	f := &bareFanout{}
	for i := range f.lanes {
		l := &bareLane{frames: make(chan []byte, 1024)}
		f.lanes[i] = l
		go f.deliver(l)
	}
	return f
}

// subscribe answers conn's request for a stream and hands it to a lane.
// Its first frame is the position event livefeed ends an empty snapshot
// with (feed.EventPosition), written under the lane's lock so that no
// event frame comes first: the load tool waits for it before it counts
// the stream attached.
func (f *bareFanout) subscribe(conn net.Conn, position int64) {
	head := strconv.AppendInt([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\nid: "), position, 10)
	head = append(head, "\nevent: "+feed.EventPosition+"\ndata: {\"last_id\":"...)
	head = append(strconv.AppendInt(head, position, 10), "}\n\n"...)
	l := f.lanes[f.next.Add(1)%uint32(len(f.lanes))]
	l.mu.Lock()
	defer l.mu.Unlock()
	// Counted before its head goes out: a publish sent once the client
	// has the position event must find the stream (counted after, the
	// publish could see none and skip the fan-out).
	f.streams.Add(1)
	if _, err := conn.Write(head); err != nil {
		f.streams.Add(-1)
		conn.Close()
		return
	}
	l.conns = append(l.conns, conn)
	// A client that goes away is noticed here, not at the next frame, so
	// that its socket is closed between runs (10,000 of them otherwise
	// stay open until the next publish).
	go func() {
		io.Copy(io.Discard, conn)
		conn.Close()
	}()
}

// publish hands one event to both lanes as a frame they share.
func (f *bareFanout) publish(id int64, body []byte) {
	frame := strconv.AppendInt([]byte("id: "), id, 10)
	frame = append(frame, "\ndata: "...)
	frame = append(frame, bytes.ReplaceAll(body, []byte("\n"), nil)...)
	frame = append(frame, "\n\n"...)
	for _, l := range f.lanes {
		l.frames <- frame
	}
}

func (f *bareFanout) deliver(l *bareLane) {
	for frame := range l.frames {
		l.mu.Lock()
		kept := l.conns[:0]
		for _, c := range l.conns {
			if _, err := c.Write(frame); err != nil {
				c.Close()
				f.streams.Add(-1)
				continue
			}
			kept = append(kept, c)
		}
		clear(l.conns[len(kept):])
		l.conns = kept
		l.mu.Unlock()
	}
}
