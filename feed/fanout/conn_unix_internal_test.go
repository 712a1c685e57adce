//go:build unix

package fanout

import (
	"net"
	"testing"
)

// TestTryWriteAllocatesNothing: TryWrite runs once per delivery, and a
// closure made for each write once cost three allocations there.
func TestTryWriteAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	c, ok := newRawConn(server).(nonBlocking)
	if !ok {
		t.Fatal("a TCP connection gives no non-blocking writer")
	}
	frame := []byte("id: 1\nevent: score\ndata: {\"home\":1,\"away\":0}\n\n")
	// 100 frames fit in the socket's buffer: every write takes all of it.
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := c.TryWrite(frame); n != len(frame) || err != nil {
			t.Fatalf("TryWrite wrote %d of %d bytes: %v", n, len(frame), err)
		}
	})
	if allocs != 0 {
		t.Errorf("TryWrite made %v allocations per write, want 0", allocs)
	}
}
