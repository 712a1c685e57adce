package handlers_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"livefeed/feed/bench"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// BenchmarkPublish is W4 in one process: 16 publishers, each on its own
// keep-alive connection and its own topic, publishing a tick at a time and
// waiting for its acknowledgement (after the commit), through a whole node
// over real sockets:
//
//	go test -run '^$' -bench 'Publish$' -benchtime 20000x -count 3 ./handlers
//
// The publishers are the load tool's: they write requests by hand and
// allocate two small objects per publish (reading the reply), so allocs/op
// is nearly all the server's. cpu-ns/publish is the server's and the
// publishers' together: it follows the server's CPU, not its ratio to the
// bare endpoint (W4 with the load tool measures that).
func BenchmarkPublish(b *testing.B) {
	n := nodetest.Start(b, nodetest.Config(b), node.Options{})
	t, err := bench.NewTarget(n.URL, nodetest.Token, 0)
	if err != nil {
		b.Fatal(err)
	}
	const publishers = 16
	pubs := make([]*bench.Publisher, publishers)
	for i := range pubs {
		pubs[i] = bench.NewPublisher(t, i, 100, fmt.Sprintf("bench/publish/p%d", i))
		defer pubs[i].Close()
		if _, _, err := pubs[i].Publish(context.Background(), 1); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, _, err := p.Publish(context.Background(), 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/publish")
}

// cpuTime is the process's user and system CPU time, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
