package bench_test

import (
	"os"
	"testing"
	"time"

	"livefeed/feed/bench"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		ok         bool
	}{
		{"Plain", "4242 (livefeed) S 1 4242 4242 0 -1 4194560 5063 0 0 0 250 75 0 0 20 0 9 0 123 1300000000 9000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0", 3250 * time.Millisecond, true},
		{"NameWithSpacesAndParens", "77 (a b) (c)) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0", 70 * time.Millisecond, true},
		{"NoName", "77 a R 1", 0, false},
		{"Short", "77 (x) R 1 2 3", 0, false},
		{"NotNumbers", "77 (x) R 1 77 77 0 -1 0 0 0 0 0 u s 0 0", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bench.ParseStatCPU(tc.stat)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseStatCPU = %v, %v; want %v (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tlivefeed\nVmPeak:\t 1300000 kB\nVmHWM:\t   99000 kB\nVmRSS:\t   61076 kB\nThreads:\t9\nVmBad:\t12\n"
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"VmRSS", 61076, true},
		{"VmHWM", 99000, true},
		{"VmSwap", 0, false},
		{"VmBad", 0, false},
		{"Threads", 0, false},
	} {
		t.Run(tc.field, func(t *testing.T) {
			got, err := bench.ParseStatusKB(status, tc.field)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseStatusKB(%s) = %d, %v; want %d (ok %v)", tc.field, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseTCPTable(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:46A0 0200007F:9C40 01 0000F000:00000000 02:00000028 00000000     0        0 5678 2 0000000000000000 20 4 30 10 -1
   2: 0200007F:9C40 0100007F:46A0 08 00000000:00000120 00:00000000 00000000     0        0 9012 1 0000000000000000 20 4 30 10 -1
`
	socks, err := bench.ParseTCPTable(table)
	if err != nil {
		t.Fatal(err)
	}
	want := []bench.Socket{
		{Local: "127.0.0.1:18080", Remote: "0.0.0.0:0", State: "LISTEN"},
		{Local: "127.0.0.1:18080", Remote: "127.0.0.2:40000", State: "ESTABLISHED", SendQueue: 0xF000},
		{Local: "127.0.0.2:40000", Remote: "127.0.0.1:18080", State: "CLOSE_WAIT", ReceiveQueue: 0x120},
	}
	if len(socks) != len(want) {
		t.Fatalf("%d sockets %+v, want %+v", len(socks), socks, want)
	}
	for i := range want {
		if socks[i] != want[i] {
			t.Fatalf("socket %d = %+v, want %+v", i, socks[i], want[i])
		}
	}
	if _, err := bench.ParseTCPTable("header\n 0: nonsense here 01 00:00\n"); err == nil {
		t.Fatal("a malformed line parsed")
	}
}

// TestProcessSelf reads this test's own process, as the tool reads the
// server's.
func TestProcessSelf(t *testing.T) {
	p := bench.Process{PID: os.Getpid()}
	if rss, err := p.RSS(); err != nil || rss <= 0 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	if _, err := p.CPU(); err != nil {
		t.Fatal(err)
	}
	if bench.SelfCPU() <= 0 {
		t.Fatal("SelfCPU = 0")
	}
}
