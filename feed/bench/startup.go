package bench

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"livefeed/handlers/config"
	"livefeed/store"
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
	rows, err := CountEvents(ctx, r.cfg.DB)
	if err != nil {
		return nil, err
	}
	if rows < p.Rows {
		if err := r.generateHistory(ctx, p, rows); err != nil {
			return nil, err
		}
		if rows, err = CountEvents(ctx, r.cfg.DB); err != nil {
			return nil, err
		}
	}
	r.progress("starting %s on %s (%d events)", r.cfg.ServerBin, r.cfg.DB, rows)
	srv, err := StartServer(ctx, r.cfg.ServerBin, r.cfg.DB, r.cfg.ServerConfig, r.target.Token)
	if err != nil {
		return nil, err
	}
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

// CountEvents returns the number of events stored in a livefeed database
// (0 if the file does not exist yet).
func CountEvents(ctx context.Context, path string) (int64, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	return n, err
}

// generateHistory adds events to W7's database until it has p.Rows.
func (r *runner) generateHistory(ctx context.Context, p Params, have int64) error {
	topics := make([]string, w7Topics)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench/w7/t%04d", i)
	}
	missing := p.Rows - have
	r.progress("%s has %d events; generating %d more (-generate %s)", r.cfg.DB, have, missing, r.cfg.Generate)
	start := time.Now()
	var err error
	switch r.cfg.Generate {
	case "http":
		err = generateOverHTTP(ctx, r, p, missing, topics)
	default:
		err = GenerateHistory(ctx, r.cfg.DB, missing, p.Publishers, p.Payload, topics)
	}
	if err != nil {
		return fmt.Errorf("generating history: %w", err)
	}
	took := time.Since(start)
	r.progress("generated %d events in %.1f s: %.0f events/s (-generate %s)", missing, took.Seconds(), float64(missing)/took.Seconds(), r.cfg.Generate)
	return nil
}

// GenerateHistory appends total events to the database at path through the
// store package, from several goroutines in batches of 1,000, so that the
// store's group commit writes several batches per transaction. No server
// may be using the database meanwhile: it would not know the new IDs.
func GenerateHistory(ctx context.Context, path string, total int64, writers, payload int, topics []string) error {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	var next sync.Mutex
	remaining := total
	take := func() int {
		next.Lock()
		defer next.Unlock()
		n := min(remaining, store.MaxBatch)
		remaining -= n
		return int(n)
	}
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var seq int64
			for ctx.Err() == nil {
				n := take()
				if n == 0 {
					return
				}
				batch := make([]store.Update, n)
				now := time.Now()
				for i := range batch {
					seq++
					batch[i] = store.Update{
						Topic: topics[int(seq)%len(topics)],
						Type:  "bench",
						Data:  AppendData(nil, now, w, seq, payload),
					}
				}
				if _, err := st.Append(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(<-errs, ctx.Err(), st.Close())
}

// generateOverHTTP starts a server on the database and publishes through
// it.
func generateOverHTTP(ctx context.Context, r *runner, p Params, total int64, topics []string) error {
	srv, err := StartServer(ctx, r.cfg.ServerBin, r.cfg.DB, r.cfg.ServerConfig, r.target.Token)
	if err != nil {
		return err
	}
	t, err := NewTarget("http://"+srv.Addr, r.target.Token, 1)
	if err != nil {
		return err
	}
	_, err = Fill(ctx, t, total, p.Publishers, 0, p.Payload, topics...)
	return errors.Join(err, srv.Stop())
}

// Server is a livefeed server the load tool started.
type Server struct {
	Cmd  *exec.Cmd
	Addr string // host:port it listens on
	// Serving is the time from exec to the first 200 from /healthz.
	Serving time.Duration

	exited chan error // receives the exit, once
	reaped sync.Once  // done once the exit has been received
}

// StartServer execs a livefeed binary on db, listening on a free loopback
// port, and returns once GET /healthz answers 200. token, if not empty, is
// its publish token.
func StartServer(ctx context.Context, bin, db, configFile, token string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-addr", addr, "-db", db}
	if configFile != "" {
		args = append(args, "-config", configFile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	if token != "" {
		cmd.Env = append(cmd.Env, config.EnvPublishTokens+"="+token)
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	cmd.Stdout = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &Server{Cmd: cmd, Addr: addr}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if ok, _ := healthy(addr); ok {
			srv.Serving = time.Since(start)
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s exited before serving: %v: %s", bin, err, stderr.String())
		case <-ctx.Done():
			cmd.Process.Kill()
			<-exited
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("%s did not serve /healthz within 5 minutes", bin)
		}
		time.Sleep(time.Millisecond)
	}
	srv.exited = exited
	return srv, nil
}

// Stop ends the server with SIGTERM and waits for it to exit.
func (s *Server) Stop() error {
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-time.After(60 * time.Second):
		s.Kill()
		return errors.New("the server did not stop within 60 s of SIGTERM; killed")
	case err := <-s.exited:
		s.reaped.Do(func() {})
		return err
	}
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// exit. It may be called after the server has exited.
func (s *Server) Kill() {
	s.Cmd.Process.Kill()
	s.reaped.Do(func() { <-s.exited })
}

// healthy reports whether GET /healthz at addr answers 200. It speaks raw
// HTTP/1.1 so a poll costs one connection and no client state.
func healthy(addr string) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(line, "HTTP/1.1 200 "), nil
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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
