// Command bare serves the bare publish endpoint and fan-out sketch that
// `livefeed bench` measures livefeed's W1, W4 and W9 against (see
// bench.BareEndpoint): POST /api/publish answered with an ID and nothing
// else, and GET /events streams that get every publish as one pre-encoded
// frame.
//
//	go run ./feed/bench/bare -addr 127.0.0.1:18182 &
//	livefeed bench -workload W4 -url http://127.0.0.1:18181 -pid $LIVEFEED_PID \
//	    -bare-url http://127.0.0.1:18182 -bare-pid $!
//
// Start a fresh one for each workload, as for livefeed.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"livefeed/feed/bench"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18182", "`address` to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("bare publish endpoint and fan-out on http://%s (pid %d)\n", ln.Addr(), os.Getpid())
	srv := &http.Server{Handler: bench.BareEndpoint(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
