package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// StartNATS execs a nats-server binary with JetStream, keeping its data in
// dir, on 127.0.0.1:port (0: a port free just now), and returns once it
// accepts connections, with its URL. Like a livefeed server the tool
// starts, it runs in a process group of its own that Stop and Kill end,
// and dies with the process that started it; started again on the same
// port and dir, it has the data it had.
func StartNATS(ctx context.Context, bin, dir string, port int) (*Server, string, error) {
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = sysProcAttr()
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	srv, err := startProcess(cmd)
	if err != nil {
		return nil, "", err
	}
	srv.Addr = addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return srv, "nats://" + addr, nil
		}
		select {
		case <-srv.done:
			return nil, "", fmt.Errorf("%s exited before serving: %v: %s", bin, srv.err, stderr.String())
		case <-ctx.Done():
			srv.Kill()
			return nil, "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			srv.Kill()
			return nil, "", fmt.Errorf("%s did not accept connections on %s within 30 s", bin, addr)
		}
	}
}
