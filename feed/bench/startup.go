package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// w7Topics is how many topics W7's history is spread over: the server
// loads the latest event of each at start-up.
const w7Topics = 1000

// runStartup measures W7: the time from exec to serving with a large
// history.
func runStartup(ctx context.Context, r *runner, p Params) (Figures, error) {
	if r.cfg.ServerBin == "" || r.cfg.DB == "" {
		return nil, errors.New("W7 starts servers itself: give -server-bin and -db")
	}
	rows, err := r.fillHistory(ctx, p)
	if err != nil {
		return nil, err
	}
	r.progress("starting %s on %s (%d events)", r.cfg.ServerBin, r.cfg.DB, rows)
	srv, err := StartServer(ctx, r.cfg.ServerBin, r.cfg.DB, r.cfg.ServerConfig, r.target.Token)
	if err != nil {
		return nil, err
	}
	defer srv.Kill() // should anything end this early; after Stop it does nothing
	serving := srv.Serving
	rss, _ := (&Process{PID: srv.Cmd.Process.Pid}).RSS()
	if err := srv.Stop(); err != nil {
		r.progress("stopping the server: %v", err)
	}
	var f Figures
	f.Add("history_rows", float64(rows))
	f.AddMS("startup_ms", serving)
	f.Add("server_rss_at_start_mb", float64(rss)/1024)
	return f, nil
}

// fillHistory starts a server on W7's database and, if it holds fewer than
// p.Rows events, publishes the rest through it (through the API, as any
// publisher would), on w7Topics topics. It returns the number of events.
func (r *runner) fillHistory(ctx context.Context, p Params) (int64, error) {
	srv, err := StartServer(ctx, r.cfg.ServerBin, r.cfg.DB, r.cfg.ServerConfig, r.target.Token)
	if err != nil {
		return 0, err
	}
	defer srv.Kill() // on an early return; after Stop it does nothing
	t, err := NewTarget("http://"+srv.Addr, r.target.Token, 1)
	if err != nil {
		return 0, err
	}
	h, err := t.Health(ctx)
	if err != nil {
		return 0, err
	}
	// IDs start at 1 and W7's database is only ever published to, so the
	// newest ID is the number of events.
	have := h.LastID
	if have < p.Rows {
		topics := make([]string, w7Topics)
		for i := range topics {
			topics[i] = fmt.Sprintf("bench/w7/t%04d", i)
		}
		missing := p.Rows - have
		r.progress("%s has %d events; publishing %d more", r.cfg.DB, have, missing)
		start := time.Now()
		n, err := Fill(ctx, t, missing, p.Publishers, 0, p.Payload, topics...)
		if err != nil {
			return 0, fmt.Errorf("filling the history: %w", err)
		}
		took := time.Since(start)
		r.progress("published %d events in %.1f s: %.0f events/s", n, took.Seconds(), float64(n)/took.Seconds())
		have += n
	}
	return have, srv.Stop()
}

// Server is a livefeed server the load tool started. It runs in a process
// group of its own, which Stop and Kill end as a whole; on Linux the
// kernel also kills it when the process that started it dies (a crash, a
// test binary's timeout), so it never outlives the tool or the test.
type Server struct {
	Cmd  *exec.Cmd
	Addr string // host:port it listens on, as the server announced it
	// Serving is the time from exec to the first 200 from /healthz.
	Serving time.Duration

	done chan struct{} // closed once the process has exited and been reaped
	err  error         // how it exited, set before done is closed
}

// announcement starts the line on which livefeed announces its address
// (main.go).
const announcement = "livefeed is serving on "

// StartServer execs a livefeed binary on db, listening on a loopback port
// the server picks itself, and returns once GET /healthz answers 200 from
// that very process. token, if not empty, is its publish token. If it
// returns an error, the process has already been ended; otherwise the
// caller ends it with Stop or Kill.
func StartServer(ctx context.Context, bin, db, configFile, token string) (*Server, error) {
	// Port 0 and the announced address rather than a port picked here: in
	// between picking and binding, another process could take the port and
	// answer /healthz in the server's place.
	return StartServerAt(ctx, "127.0.0.1:0", bin, db, configFile, token)
}

// StartServerAt is StartServer listening on addr: a server started again
// at the address of one that stopped, for clients that reconnect to the
// same URL, as an EventSource does.
func StartServerAt(ctx context.Context, addr, bin, db, configFile, token string) (_ *Server, err error) {
	args := []string{"-addr", addr, "-db", db}
	if configFile != "" {
		args = append(args, "-config", configFile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	if token != "" {
		cmd.Env = append(cmd.Env, "LIVEFEED_PUBLISH_TOKENS="+token) // the server's environment variable for them
	}
	cmd.SysProcAttr = sysProcAttr()
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	// LIVEFEED_SERVER_LOGS names a directory to keep the whole log of
	// every server started in, to see why a test failed.
	if dir := os.Getenv("LIVEFEED_SERVER_LOGS"); dir != "" {
		if f, err := os.CreateTemp(dir, "livefeed-*.log"); err == nil {
			cmd.Stderr = io.MultiWriter(cmd.Stderr, f) // open until the test process ends
		}
	}
	out, outWriter, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = outWriter
	start := time.Now()
	srv, err := startProcess(cmd)
	outWriter.Close() // the server has its own copy
	if err != nil {
		out.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			srv.Kill()
		}
	}()
	announced := make(chan string, 1)
	go readAnnouncement(out, announced)

	deadline := time.NewTimer(5 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var poll <-chan time.Time // tick.C once the address is known
	for {
		select {
		case addr, ok := <-announced:
			announced = nil // an output that ends unannounced ends with the exit
			if ok {
				srv.Addr, poll = addr, tick.C
			}
			continue
		case <-poll:
		case <-srv.done:
			return nil, fmt.Errorf("%s exited before serving: %v: %s", bin, srv.err, stderr.String())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("%s did not serve /healthz within 5 minutes", bin)
		}
		pid, ok := healthPID(srv.Addr)
		if !ok {
			continue // not serving yet
		}
		if pid != cmd.Process.Pid {
			return nil, fmt.Errorf("GET /healthz on %s was answered by process %d, not by %s (process %d)", srv.Addr, pid, bin, cmd.Process.Pid)
		}
		srv.Serving = time.Since(start)
		return srv, nil
	}
}

// startProcess starts cmd and reaps it when it exits.
func startProcess(cmd *exec.Cmd) (*Server, error) {
	srv := &Server{Cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Linux sends the death signal of sysProcAttr when the thread
		// that started the server ends, not the process, and the runtime
		// ends a thread whose goroutine returns while locked to it. So the
		// start happens on a thread locked to this goroutine, which never
		// unlocks it and returns only once the server has been reaped: no
		// other goroutine can end that thread while the server runs.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		srv.err = cmd.Wait()
		close(srv.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return srv, nil
}

// readAnnouncement sends on announced the address of the first line of
// out that starts with announcement, closes announced, and reads out to
// its end, so that the server never blocks writing to a full pipe.
func readAnnouncement(out io.ReadCloser, announced chan<- string) {
	defer out.Close()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		rest, ok := strings.CutPrefix(lines.Text(), announcement)
		if u, err := url.Parse(strings.TrimSpace(rest)); ok && err == nil && u.Host != "" {
			announced <- u.Host
			break
		}
	}
	close(announced)
	io.Copy(io.Discard, out)
}

// Stop ends the server with SIGTERM, as an operator would, and waits for
// it to exit; if it has not within 60 s, it kills it.
func (s *Server) Stop() error {
	s.signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.err
	case <-time.After(60 * time.Second):
		s.Kill()
		return errors.New("the server did not stop within 60 s of SIGTERM; killed")
	}
}

// Kill ends the server's process group with SIGKILL, as a crash would, and
// waits for the server to exit. It may be called at any time, also after
// Stop or Kill.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL)
	<-s.done
}

// signal sends sig to the server's process group (whose ID is the
// server's PID), unless the server has been reaped: its PID may then name
// another process.
func (s *Server) signal(sig syscall.Signal) {
	select {
	case <-s.done:
	default:
		syscall.Kill(-s.Cmd.Process.Pid, sig)
	}
}

// healthPID asks GET /healthz at addr and returns the process ID the
// answer names (0 if none); ok is false until something answers 200. It
// speaks raw HTTP/1.1 so a poll costs one connection and no client state.
func healthPID(addr string) (pid int, ok bool) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var h Health
	json.NewDecoder(resp.Body).Decode(&h)
	return h.PID, true
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
