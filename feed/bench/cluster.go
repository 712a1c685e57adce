package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// W13 runs this many cluster nodes, and this many publishers for its
// JetStream throughput.
const (
	clusterNodes      = 3
	clusterPublishers = 16
)

// nodeConfig is the config.toml of every server W13 starts: the load
// tool's subscribers come from a few loopback addresses.
const nodeConfig = "[feed]\nmax_subscribers_per_ip = 0\n"

// node is a livefeed server W13 started, and how to reach and measure it.
type node struct {
	name   string
	srv    *Server
	target *Target
	proc   *Process
}

// startNode starts a livefeed server on a fresh database in dir with the
// given config.toml.
func (r *runner) startNode(ctx context.Context, dir, name, config string) (*node, error) {
	cfgFile := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		return nil, err
	}
	srv, err := StartServer(ctx, r.cfg.ServerBin, filepath.Join(dir, name+".db"), cfgFile, r.target.Token)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	t, err := NewTarget("http://"+srv.Addr, r.target.Token, r.cfg.SourceIPs)
	if err != nil {
		srv.Kill()
		return nil, err
	}
	return &node{name: name, srv: srv, target: t, proc: &Process{PID: srv.Cmd.Process.Pid}}, nil
}

// runCluster measures W13: the single-node W1 broadcast as the baseline,
// the same audience split over three unconnected single nodes (what three
// processes on the machine cost), then spread over three nodes of a
// cluster with a publisher on each, then 16 publishers spread over the
// nodes as fast as JetStream acknowledges, and last that every node holds
// every event.
func runCluster(ctx context.Context, r *runner, p Params) (_ Figures, err error) {
	if r.cfg.ServerBin == "" || r.cfg.NATS == "" {
		return nil, errors.New("W13 starts its own servers: give the livefeed binary with -server-bin and a NATS server with JetStream with -nats")
	}
	dir, err := os.MkdirTemp("", "livefeed-w13-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var f Figures

	// The baseline: W1 against one node on its own, in this run.
	r.progress("baseline: W1 with %d subscribers on a single node", p.Subscribers)
	single, err := r.startNode(ctx, dir, "single", nodeConfig)
	if err != nil {
		return nil, err
	}
	sr := *r
	sr.target, sr.server = single.target, single.proc
	base, err := runBroadcast(ctx, &sr, Params{Subscribers: p.Subscribers, Publishers: 1, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload})
	single.srv.Stop()
	if err != nil {
		return nil, fmt.Errorf("single node: %w", err)
	}
	for _, name := range []string{"missing", "duplicates", "order_violations", "gaps", "latency_p99_ms", "server_cpu_us_per_delivery"} {
		if v, ok := base.Get(name); ok {
			f.Add("single_"+name, v)
		}
	}
	baseCPU, _ := base.Get("server_cpu_us_per_delivery")

	// The same audience split over three single nodes that know nothing
	// of each other, each with a publisher of its own: what three
	// processes sharing the machine cost without any cluster, to tell
	// that apart from what cluster mode costs.
	r.progress("split: %d subscribers over %d single nodes, each with its own publisher", p.Subscribers, clusterNodes)
	var singles []*node
	for i := range clusterNodes {
		n, err := r.startNode(ctx, dir, fmt.Sprintf("s%d", i+1), nodeConfig)
		if err != nil {
			return nil, err
		}
		singles = append(singles, n)
	}
	split, err := r.spread(ctx, singles, p, false)
	for _, n := range singles {
		n.srv.Stop()
	}
	if err != nil {
		return nil, fmt.Errorf("split over single nodes: %w", err)
	}
	splitCPU := split.worstCPU
	m, _ := split.figures.Get("missing")
	f.Add("split_missing", m)
	f.Add("split_cpu_us_per_delivery_max", splitCPU)

	// The cluster, on a stream of its own that is deleted afterwards.
	stream := fmt.Sprintf("LIVEFEED_BENCH_%s_R%d", strings.ToUpper(r.nonce), r.run)
	subjects := fmt.Sprintf("livefeed.bench.%s.r%d.>", r.nonce, r.run)
	defer func() {
		if derr := deleteStream(r.cfg.NATS, stream); derr != nil {
			r.progress("could not delete the stream %s: %v", stream, derr)
		}
	}()
	nodes := make([]*node, 0, clusterNodes)
	defer func() {
		for _, n := range nodes {
			n.srv.Stop()
		}
	}()
	for i := range clusterNodes {
		name := fmt.Sprintf("n%d", i+1)
		config := nodeConfig + fmt.Sprintf("[cluster]\nnats_urls = [%q]\nstream = %q\nsubjects = %q\nnode = %q\n", r.cfg.NATS, stream, subjects, name)
		n, err := r.startNode(ctx, dir, name, config)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	targets := make([]*Target, len(nodes))
	for i, n := range nodes {
		targets[i] = n.target
	}

	// The broadcast: the audience spread over the nodes, a publisher on
	// each, every event to every subscriber on every node.
	r.progress("cluster: %d subscribers over %d nodes, a publisher on each node", p.Subscribers, len(nodes))
	spread, err := r.spread(ctx, nodes, p, true)
	if err != nil {
		return nil, err
	}
	f = append(f, spread.figures...)
	if baseCPU > 0 && spread.worstCPU > 0 {
		f.Add("node_cpu_us_per_delivery_max", spread.worstCPU)
		f.Add("node_cpu_ratio_max", spread.worstCPU/baseCPU)
	}
	if splitCPU > 0 && spread.worstCPU > 0 {
		f.Add("node_cpu_ratio_to_split", spread.worstCPU/splitCPU)
	}

	// JetStream's throughput: publishers spread over the nodes, each on a
	// topic of its own, each publish acknowledged once the stream stored
	// it and the node applied it.
	r.progress("cluster: %d publishers over %d nodes for %s", clusterPublishers, len(nodes), p.Duration)
	tput := RunPublishers(ctx, nil, PublishPlan{Topic: r.topic("/tput"), Publishers: clusterPublishers, FirstIndex: len(nodes),
		Duration: p.Duration, Payload: p.Payload, TopicPerPublisher: true, PerRequest: 1, Targets: targets})
	if err := tput.Failed(); err != nil {
		return nil, err
	}
	if tput.Err != nil {
		r.progress("publish error: %v", tput.Err)
	}
	f.Add("cluster_publishers", clusterPublishers)
	f.Add("cluster_publish_errors", float64(tput.Errors))
	if span := tput.LastAck.Sub(tput.FirstSend); span > 0 {
		f.Add("cluster_publishes_per_s", float64(tput.Total())/span.Seconds())
	}
	f.AddMS("cluster_ack_p50_ms", tput.Acks.Quantile(0.5))
	f.AddMS("cluster_ack_p99_ms", tput.Acks.Quantile(0.99))

	// JetStream alone, right after, with the same publishers over as many
	// connections as the nodes have, into a stream of the same replicas
	// (the nodes' default, one): what the nodes' publishes are compared
	// with.
	r.progress("JetStream alone: %d publishers over %d connections for %s", clusterPublishers, len(nodes), p.Duration)
	raw := rawJetStream(ctx, r.cfg.NATS, stream+"_RAW", fmt.Sprintf("livefeed_bench_raw.%s.r%d.>", r.nonce, r.run),
		1, clusterPublishers, len(nodes), p.Payload, p.Duration)
	if raw.err != nil && raw.published == 0 {
		return nil, fmt.Errorf("JetStream alone: %w", raw.err)
	}
	if raw.err != nil {
		r.progress("JetStream alone: %v", raw.err)
	}
	f.Add("jetstream_publish_errors", float64(raw.errors))
	f.Add("jetstream_publishes_per_s", raw.perS)
	f.AddMS("jetstream_ack_p50_ms", raw.acks.Quantile(0.5))
	f.AddMS("jetstream_ack_p99_ms", raw.acks.Quantile(0.99))
	if cluster, ok := f.Get("cluster_publishes_per_s"); ok && raw.perS > 0 {
		f.Add("cluster_publishes_ratio_to_jetstream", cluster/raw.perS)
	}

	// Streaming publishes through the nodes, W9's, spread over them.
	r.progress("cluster: %d streaming publishes over %d nodes for %s", clusterIngesters, len(nodes), p.Duration)
	before := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		if before[i], err = n.proc.CPU(); err != nil {
			return nil, err
		}
	}
	ingest, err := r.clusterIngest(ctx, targets, p.Payload, p.Duration)
	if err != nil {
		return nil, err
	}
	var cpu time.Duration
	for i, n := range nodes {
		after, err := n.proc.CPU()
		if err != nil {
			return nil, err
		}
		cpu += after - before[i]
	}
	f.Add("cluster_ingest_events", float64(ingest.acked))
	f.Add("cluster_ingest_refused", float64(ingest.refused))
	f.Add("cluster_ingest_order_violations", float64(ingest.disorder))
	f.Add("cluster_ingest_events_per_s", ingest.perS)
	f.AddMS("cluster_ingest_ack_p99_ms", ingest.acks.Quantile(0.99))
	if ingest.acked > 0 {
		f.Add("cluster_ingest_nodes_cpu_us_per_event", float64(cpu)/float64(time.Microsecond)/float64(ingest.acked))
	}

	// Every node ends up holding every acknowledged event.
	published, _ := spread.figures.Get("published")
	acked := int64(published) + tput.Total() + ingest.acked
	behind, took := converge(ctx, nodes, acked, 30*time.Second)
	if behind > 0 {
		for _, n := range nodes {
			h, err := n.target.Health(ctx)
			r.progress("node %s: last ID %d of %d acknowledged events (%v)", n.name, h.LastID, acked, err)
		}
	}
	f.Add("nodes_behind", float64(behind))
	f.AddMS("nodes_converged_ms", took)
	return f, nil
}

// converge waits (at most limit) until every node's last ID is at least
// want, and returns how many are not and how long it waited.
func converge(ctx context.Context, nodes []*node, want int64, limit time.Duration) (int, time.Duration) {
	start := time.Now()
	for {
		behind := 0
		for _, n := range nodes {
			if h, err := n.target.Health(ctx); err != nil || h.LastID < want {
				behind++
			}
		}
		if behind == 0 || time.Since(start) > limit || ctx.Err() != nil {
			return behind, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deleteStream deletes a stream W13 created.
func deleteStream(url, stream string) error {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = js.DeleteStream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// spreadResult is what a broadcast over several nodes measured.
type spreadResult struct {
	figures  Figures
	worstCPU float64 // the highest CPU per delivery of a node (µs)
}

// spread connects the subscribers, split evenly, to the nodes, publishes
// from one publisher on each node and checks every delivery. In a cluster
// (shared) the publishers share one topic and W1's rate, and every
// subscriber gets all their events in one ID order; otherwise each node's
// publisher publishes W1's rate to that node alone.
func (r *runner) spread(ctx context.Context, nodes []*node, p Params, shared bool) (spreadResult, error) {
	var out spreadResult
	f := &out.figures
	topic := r.topic("")
	if !shared {
		topic = r.topic("/split")
	}
	auds := make([]*Audience, len(nodes))
	sent := NewSentLog(len(nodes), sentLogDefault) // one for the audiences of every node
	defer func() {
		for _, a := range auds {
			if a != nil {
				a.Stop()
			}
		}
	}()
	for i, n := range nodes {
		subs := p.Subscribers / len(nodes)
		if i < p.Subscribers%len(nodes) {
			subs++
		}
		var err error
		auds[i], err = StartAudience(ctx, n.target, AudienceOptions{
			Topic: topic, Subscribers: subs, FirstN: i * (p.Subscribers/len(nodes) + 1),
			Publishers: len(nodes), ReadBuffer: readBuffer(p.Subscribers), Sent: sent,
		})
		if err != nil {
			return out, fmt.Errorf("node %s: %w", n.name, err)
		}
	}
	cpuBefore := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		var err error
		if cpuBefore[i], err = n.proc.CPU(); err != nil {
			return out, err
		}
	}
	// published[i] is what the subscribers of node i are to receive.
	published := make([]int64, len(nodes))
	var errs int
	if shared {
		targets := make([]*Target, len(nodes))
		for i, n := range nodes {
			targets[i] = n.target
		}
		res := RunPublishers(ctx, nil, PublishPlan{Topic: topic, Publishers: len(nodes), Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Targets: targets, Sent: sent})
		if err := res.Failed(); err != nil {
			return out, err
		}
		for i := range published {
			published[i] = res.Total()
		}
		errs = res.Errors
	} else {
		results := make([]*PublishResult, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				results[i] = RunPublishers(ctx, n.target, PublishPlan{Topic: topic, Publishers: 1, FirstIndex: i, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Sent: sent})
			})
		}
		wg.Wait()
		for i, res := range results {
			if err := res.Failed(); err != nil {
				return out, fmt.Errorf("node %s: %w", nodes[i].name, err)
			}
			published[i] = res.Total()
			errs += res.Errors
		}
	}
	f.Add("published", float64(published[0]))
	f.Add("publish_errors", float64(errs))
	var all Tally
	var latency Histogram
	var missing int64
	for i, n := range nodes {
		expected := published[i] * int64(auds[i].Len())
		if !auds[i].WaitDeliveries(ctx, expected, r.cfg.Drain) {
			r.progress("node %s: stopped waiting, %d of %d deliveries arrived", n.name, auds[i].Deliveries(), expected)
		}
		cpu, err := n.proc.CPU()
		if err != nil {
			return out, err
		}
		latency.Merge(auds[i].Latency(0))
		t := auds[i].Stop()
		auds[i] = nil
		all.Add(t)
		missing += max(expected-t.Deliveries, 0)
		f.Add(n.name+"_deliveries", float64(t.Deliveries))
		f.Add(n.name+"_missing", float64(max(expected-t.Deliveries, 0)))
		if t.Deliveries > 0 {
			perDelivery := float64(cpu-cpuBefore[i]) / float64(time.Microsecond) / float64(t.Deliveries)
			f.Add(n.name+"_cpu_us_per_delivery", perDelivery)
			out.worstCPU = max(out.worstCPU, perDelivery)
		}
	}
	f.Add("deliveries", float64(all.Deliveries))
	f.Add("missing", float64(missing))
	f.Add("duplicates", float64(all.Duplicates))
	f.Add("order_violations", float64(all.OrderViolations))
	f.Add("gaps", float64(all.Gaps))
	f.Add("reconnects", float64(all.Reconnects))
	f.Add("resets", float64(all.Resets))
	addLatency(f, "", &latency, all.MaxLatency)
	return out, nil
}
