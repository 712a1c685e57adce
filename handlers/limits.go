package handlers

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// streamLimits bounds the open event streams, in all and per client IP, so
// one client or a flood of connections cannot exhaust the server's sockets
// and memory for everybody else. Zero means no limit.
type streamLimits struct {
	maxTotal, maxPerIP int

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newStreamLimits(maxTotal, maxPerIP int) *streamLimits {
	return &streamLimits{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: make(map[string]int)}
}

// acquire takes a place for a stream from ip, or reports false when a limit
// is reached.
func (l *streamLimits) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal || l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP {
		return false
	}
	l.total++
	l.perIP[ip]++
	return true
}

// open is the number of places taken.
func (l *streamLimits) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// release gives back the place of a stream from ip.
func (l *streamLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// shed answers a stream the server has no room for. Any status but 200
// would make an EventSource give up for good (WHATWG HTML §9.2.3, "fail
// the connection"), so the answer is an empty stream whose retry field asks
// the client to come back later, after a random delay around busyRetry so
// the refused clients do not all return at once. It keeps its position
// (Last-Event-ID) and resumes without loss.
func (s *Server) shed(w http.ResponseWriter) {
	s.metrics.shed.Add(1)
	retry := s.opts.BusyRetry/2 + rand.N(s.opts.BusyRetry+1)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("retry: " + strconv.FormatInt(retry.Milliseconds(), 10) + "\n: the server is busy; reconnecting later\n\n"))
}

// rateLimits is a token bucket per publish token: each allows rate events
// per second on average and burst at once. A rate of zero means no limit.
type rateLimits struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[[32]byte]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimits(rate float64, burst int) *rateLimits {
	if burst <= 0 {
		burst = int(math.Ceil(rate))
	}
	return &rateLimits{rate: rate, burst: float64(burst), now: time.Now, buckets: make(map[[32]byte]*bucket)}
}

// allow takes n events' worth from the bucket of key. If there is not
// enough, it takes nothing and returns how long until there will be.
func (l *rateLimits) allow(key [32]byte, n int) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	need := float64(n)
	if need > l.burst {
		// A batch larger than the burst can never pass; say so rather
		// than have the client wait forever.
		return false, -1
	}
	if b.tokens < need {
		return false, time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens -= need
	return true, 0
}
