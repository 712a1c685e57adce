package config_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"livefeed/feed/poll"
	"livefeed/handlers/config"
)

// openTerminal opens a pseudo-terminal: what a user types goes into
// master, a program reads it from slave.
func openTerminal(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (%v): the terminal path of ReadNewPassword is not tested", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// screen collects what a terminal shows.
type screen struct {
	mu   sync.Mutex
	text bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// TestReadNewPasswordFromTerminal types the password twice at a real
// (pseudo-)terminal: it is read, and never shown.
func TestReadNewPasswordFromTerminal(t *testing.T) {
	for _, tc := range []struct {
		name, first, second string
		err                 string
	}{
		{"OK", "correct horse battery", "correct horse battery", ""},
		{"ErrDiffer", "correct horse battery", "correct horse batterz", "the two passwords differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openTerminal(t)
			var shown screen
			go io.Copy(&shown, master) // ends when the test closes master
			type result struct {
				password string
				err      error
			}
			done := make(chan result, 1)
			go func() {
				p, err := config.ReadNewPassword(slave, slave)
				done <- result{p, err}
			}()
			for i, typed := range []string{tc.first, tc.second} {
				prompt := []string{"password (not shown): ", "again: "}[i]
				poll.Until(t, "", func() bool { return strings.HasSuffix(shown.String(), prompt) && !echoing(t, slave) })
				io.WriteString(master, typed+"\r")
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadNewPassword did not return")
			}
			if tc.err != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.err) {
					t.Fatalf("ReadNewPassword = %q, %v; want an error with %q", r.password, r.err, tc.err)
				}
			} else if r.err != nil || r.password != tc.first {
				t.Fatalf("ReadNewPassword = %q, %v", r.password, r.err)
			}
			if !echoing(t, slave) {
				t.Error("the terminal's echo was left off")
			}
			if s := shown.String(); strings.Contains(s, "horse") {
				t.Fatalf("the terminal showed the password: %q", s)
			}
		})
	}
}

// echoing reports whether the terminal shows what is typed.
func echoing(t *testing.T, tty *os.File) bool {
	t.Helper()
	termios, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return termios.Lflag&unix.ECHO != 0
}
