package bench_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed/bench"
	"livefeed/handlers/node/nodetest"
)

// fakeEnv names the variable that makes the test binary play a part
// instead of running tests: a stand-in for the livefeed binary, or a
// program that starts one. The stand-ins start in milliseconds and can
// misbehave in ways the real server does not.
const fakeEnv = "LIVEFEED_BENCH_FAKE"

// TestMain runs the tests, or plays a part when fakeEnv asks for one.
func TestMain(m *testing.M) {
	if part := os.Getenv(fakeEnv); part != "" {
		play(part, os.Args[1:])
		return
	}
	code := m.Run()
	nodetest.RemoveBinary() // the one the end-to-end tests ran
	os.Exit(code)
}

// play is the test binary's part when fakeEnv is set:
//   - "serve": a livefeed that listens on -addr, announces its address as
//     livefeed does and answers /healthz with its PID; with
//     LIVEFEED_BENCH_FAKE_CHILD set to a file, it first starts a "linger"
//     child and writes the child's PID there.
//   - "impostor": a livefeed whose port is served by another process (a
//     "serve" child sharing its stdout), as when another server holds it.
//   - "linger": a process that does nothing for an hour.
//   - "starter": a program that starts a "serve" with StartServer, prints
//     "server PID" and dies without ending it, as a test binary does when
//     its timeout fires.
func play(part string, args []string) {
	switch part {
	case "serve":
		if file := os.Getenv("LIVEFEED_BENCH_FAKE_CHILD"); file != "" {
			child := exec.Command(os.Args[0])
			child.Env = append(os.Environ(), fakeEnv+"=linger")
			must(child.Start())
			must(os.WriteFile(file, []byte(fmt.Sprint(child.Process.Pid)), 0o600))
		}
		if os.Getenv("LIVEFEED_BENCH_FAKE_UNTIL_EOF") != "" {
			go func() {
				io.Copy(io.Discard, os.Stdin)
				os.Exit(0)
			}()
		}
		serve(args)
	case "impostor":
		child := exec.Command(os.Args[0], args...)
		child.Env = append(os.Environ(), fakeEnv+"=serve", "LIVEFEED_BENCH_FAKE_UNTIL_EOF=1")
		child.Stdout = os.Stdout
		// The child ends when this process does and its stdin closes, so
		// that even a StartServer that took the child for its server
		// leaves nothing running.
		_, err := child.StdinPipe()
		must(err)
		must(child.Run())
	case "linger":
		time.Sleep(time.Hour)
	case "starter":
		os.Setenv(fakeEnv, "serve")
		srv, err := bench.StartServer(context.Background(), os.Args[0], filepath.Join(os.TempDir(), "unused.db"), "", "")
		must(err)
		fmt.Printf("server %d\n", srv.Cmd.Process.Pid)
		panic("the starter dies without ending its server")
	default:
		panic(fakeEnv + "=" + part + ": no such part")
	}
}

// serve is the "serve" part: livefeed's command line, announcement and
// /healthz, and an exit with status 0 on SIGTERM.
func serve(args []string) {
	flags := flag.NewFlagSet("fake livefeed", flag.ExitOnError)
	addr := flags.String("addr", "", "")
	flags.String("db", "", "")
	flags.String("config", "", "")
	flags.Parse(args)
	terminated := make(chan os.Signal, 1)
	signal.Notify(terminated, syscall.SIGTERM)
	go func() {
		<-terminated
		os.Exit(0)
	}()
	ln, err := net.Listen("tcp", *addr)
	must(err)
	fmt.Printf("livefeed is serving on http://%s\n", ln.Addr())
	must(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "pid": os.Getpid()})
	})))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// TestStartServerRefusesAnotherProcess: when /healthz on the server's
// address is answered by a process other than the one started, that is
// not a start.
func TestStartServerRefusesAnotherProcess(t *testing.T) {
	t.Setenv(fakeEnv, "impostor")
	srv, err := bench.StartServer(t.Context(), os.Args[0], filepath.Join(t.TempDir(), "feed.db"), "", "")
	if err == nil {
		srv.Kill()
		t.Fatalf("StartServer took the answer of another process on %s for its server %d", srv.Addr, srv.Cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), "answered by process") {
		t.Fatalf("StartServer: %v, want an error about the process that answered", err)
	}
}
