package bench_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"livefeed/feed/bench"
)

// TestServerEndsWithItsProcessGroup: Stop and Kill end what the server
// started as well as the server.
func TestServerEndsWithItsProcessGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*bench.Server)
	}{
		{"Stop", func(s *bench.Server) { s.Stop() }},
		{"Kill", (*bench.Server).Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			childFile := filepath.Join(dir, "child.pid")
			t.Setenv(fakeEnv, "serve")
			t.Setenv("LIVEFEED_BENCH_FAKE_CHILD", childFile)
			srv, err := bench.StartServer(t.Context(), os.Args[0], filepath.Join(dir, "feed.db"), "", "")
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(childFile)
			child, _ := strconv.Atoi(string(b))
			if err != nil || child == 0 {
				srv.Kill()
				t.Fatalf("the server's child: %q, %v", b, err)
			}
			tc.end(srv)
			waitGone(t, srv.Cmd.Process.Pid, "the server")
			waitGone(t, child, "the server's child")
		})
	}
}

// TestServerDiesWithItsStarter: a server outlives neither the test nor
// the load tool that started it, even when that dies without ending it
// (a panic, a test binary's timeout), so without its cleanups running.
func TestServerDiesWithItsStarter(t *testing.T) {
	starter := exec.Command(os.Args[0])
	starter.Env = append(os.Environ(), fakeEnv+"=starter")
	out, err := starter.Output()
	line, _, _ := strings.Cut(string(out), "\n")
	pid, convErr := strconv.Atoi(strings.TrimPrefix(line, "server "))
	if convErr != nil {
		t.Fatalf("starter: %q, %v", out, err)
	}
	if exit, ok := err.(*exec.ExitError); !ok || !bytes.Contains(exit.Stderr, []byte("panic: the starter dies")) {
		t.Fatalf("starter did not die as planned: %v", err)
	}
	waitGone(t, pid, "the server of a starter that died")
}

// waitGone polls until process pid has ended, and fails the test after
// 10 s; it then kills the process, so a failed test leaves nothing behind.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (process %d) is still running", what, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running reports whether process pid exists and is not a zombie. A
// zombie holds no port and no file, and an orphan may stay one: PID 1 in
// a container does not always reap.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "PID (command) STATE ...", where the command may hold ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}
