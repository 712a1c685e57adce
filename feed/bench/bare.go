package bench

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// BareEndpoint is the yardstick W4 and W9 measure livefeed against: POST
// /api/publish on net/http that reads the body and answers 201 with the
// next ID, as livefeed does, and does nothing else — no validation, no
// storage, no fan-out. What livefeed costs beyond it is what its checks
// and its durability cost. An NDJSON body is answered a line per line,
// {"id":N} each, streamed as the lines arrive. GET /healthz answers as
// livefeed's does, so the load tool can drive both the same way.
//
// The program in feed/bench/bare serves it.
func BareEndpoint() http.Handler {
	var last atomic.Int64
	bodies := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/publish", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == ndjson {
			bareStream(w, r, &last)
			return
		}
		body := bodies.Get().(*bytes.Buffer)
		body.Reset()
		_, err := body.ReadFrom(r.Body)
		bodies.Put(body)
		if err != nil {
			http.Error(w, `{"error":"the request body could not be read"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(strconv.AppendInt([]byte(`{"id":`), last.Add(1), 10))
		io.WriteString(w, "}\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		b := strconv.AppendInt([]byte(`{"status":"ok","subscribers":0,"last_id":`), last.Load(), 10)
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
