package cluster_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"livefeed/feed"
	"livefeed/feed/logtest"
	"livefeed/feed/poll"
	"livefeed/store/cluster"
)

// natsCluster is a JetStream cluster of servers in the test's process.
type natsCluster struct {
	servers []*server.Server
}

// freePort returns a loopback port free just now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNATSCluster starts size JetStream servers routed to each other,
// and returns once JetStream has a leader (a stream of size replicas can
// be created).
func startNATSCluster(tb testing.TB, size int) *natsCluster {
	tb.Helper()
	ports := make([]int, size)
	var routes []*url.URL
	for i := range ports {
		ports[i] = freePort(tb)
		routes = append(routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(ports[i])})
	}
	nc := &natsCluster{}
	for i := range size {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true,
		}
		if size > 1 {
			opts.Cluster = server.ClusterOpts{Name: "livefeed", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = routes
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			tb.Fatal(err)
		}
		go srv.Start()
		nc.servers = append(nc.servers, srv)
	}
	tb.Cleanup(func() {
		for _, srv := range nc.servers {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	})
	for _, srv := range nc.servers {
		if !srv.ReadyForConnections(10 * time.Second) {
			tb.Fatal("NATS did not start")
		}
	}
	poll.Until(tb, "the JetStream cluster to elect a leader", func() bool {
		if size == 1 {
			return true
		}
		for _, srv := range nc.servers {
			if srv.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return nc
}

func (c *natsCluster) url(i int) string { return c.servers[i%len(c.servers)].ClientURL() }

// clusterNodes opens count livefeed nodes on a stream of replicas, each
// on its own database, spread over c's servers.
func clusterNodes(tb testing.TB, c *natsCluster, replicas, count int) []*node {
	tb.Helper()
	dir := tb.TempDir()
	var nodes []*node
	for i := range count {
		nodes = append(nodes, nodeWith(tb, filepath.Join(dir, fmt.Sprintf("%d.db", i)),
			cluster.Options{URLs: []string{c.url(i)}, Node: strconv.Itoa(i), Replicas: replicas}))
	}
	return nodes
}

// rate runs publishers goroutines, each calling publish with its index
// and a count until d passes, and returns the calls per second.
func rate(tb testing.TB, publishers int, d time.Duration, publish func(p, i int) error) float64 {
	tb.Helper()
	var done atomic.Int64
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	until := start.Add(d)
	for p := range publishers {
		wg.Go(func() {
			for i := 0; time.Now().Before(until); i++ {
				if err := publish(p, i); err != nil {
					tb.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	cpu := cpuTime() - cpu0
	tb.Logf("  %.0f calls/s on %.2f cores of this process, %.1f µs of its CPU per call", float64(done.Load())/took.Seconds(), cpu.Seconds()/took.Seconds(), float64(cpu.Microseconds())/float64(done.Load()))
	return float64(done.Load()) / took.Seconds()
}

// cpuTime is the CPU time of this process (NATS, nodes and publishers).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkClusterPublish measures single publishes through three nodes,
// 16 waiting publishers spread over them, against raw JetStream publishes
// by the same publishers on the same servers into a stream of the same
// replicas, in the same run, rounds alternating: the bar is 0.75× (issue
// 25). And streaming ingest (AppendEach) from 4 callers over the nodes,
// each with groups of 4,096 lines as a streaming publish's connection
// commits them: the bar is 100,000 events/s. R1 is one NATS server and a
// stream of one replica, R3 three servers and three replicas. Everything
// runs in this process: the CPU it takes per call is logged with each
// figure.
//
//	go test -run '^$' -bench ClusterPublish -benchtime 1x ./store/cluster/
func BenchmarkClusterPublish(b *testing.B) {
	b.Run("R1", func(b *testing.B) { benchmarkClusterPublish(b, 1) })
	b.Run("R3", func(b *testing.B) { benchmarkClusterPublish(b, 3) })
}

func benchmarkClusterPublish(b *testing.B, replicas int) {
	const (
		publishers = 16
		rounds     = 5
		round      = 2 * time.Second
		groupLines = 4096
		ingesters  = 4
	)
	nc := startNATSCluster(b, replicas)
	nodes := clusterNodes(b, nc, replicas, 3)
	var conns []jetstream.JetStream
	for i := range nodes {
		c, err := nats.Connect(nc.url(i))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		js, _ := jetstream.New(c)
		conns = append(conns, js)
	}
	ctx := context.Background()
	// Raw publishes go to a stream of their own, with the same replicas,
	// which nothing consumes: what JetStream alone does.
	if _, err := conns[0].CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage,
		Replicas: replicas, Duplicates: 2 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"symbol":"AAPL","price":187.25,"change":0.5,"volume":1200}`)
	for b.Loop() {
		var raw, through, ingest []float64
		for r := range rounds {
			raw = append(raw, rate(b, publishers, round, func(p, i int) error {
				_, err := conns[p%len(conns)].Publish(ctx, fmt.Sprintf("raw.%d", p), payload)
				return err
			}))
			before := nodes[0].st.Stats()
			through = append(through, rate(b, publishers, round, func(p, i int) error {
				_, err := nodes[p%len(nodes)].Append(ctx, []feed.Update{{Topic: fmt.Sprintf("bench/%d", p), Type: "note", Data: payload}})
				return err
			}))
			after := nodes[0].st.Stats()
			perCommit := float64(after.Events-before.Events) / float64(max(after.Commits-before.Commits, 1))
			updates := make([]feed.Update, groupLines)
			for i := range updates {
				updates[i] = feed.Update{Topic: fmt.Sprintf("ingest/%d", i%400), Type: "note", Data: payload}
			}
			group := logtest.Checked(b, updates...)
			ingest = append(ingest, groupLines*rate(b, ingesters, round, func(p, i int) error {
				for _, o := range nodes[p%len(nodes)].AppendEach(ctx, group, nil) {
					if o.Err != nil {
						return o.Err
					}
				}
				return nil
			}))
			b.Logf("round %d: raw %.0f/s, through livefeed %.0f/s (%.2f×, %.1f events per commit of a node), ingest %.0f events/s", r+1, raw[r], through[r], through[r]/raw[r], perCommit, ingest[r])
		}
		ratios := make([]float64, rounds)
		for i := range ratios {
			ratios[i] = through[i] / raw[i]
		}
		b.ReportMetric(median(raw), "raw_publishes/s")
		b.ReportMetric(median(through), "publishes/s")
		b.ReportMetric(median(ratios), "ratio")
		b.ReportMetric(median(ingest), "ingest_events/s")
	}
}
