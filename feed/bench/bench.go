// Package bench is livefeed's load tool, run as `livefeed bench`: it drives
// a running livefeed server over real sockets from its own process and
// prints the figures of the performance bars in web/docs/performance.md (workloads W1 to
// W11 and W13 to W16), one line per run, then the median of the runs,
// and each bar with MET or NOT MET.
//
// Subscribers are plain TCP connections, each read by its own goroutine
// with a parser specialised for livefeed's framing (Scanner); publishers
// write HTTP/1.1 requests by hand on keep-alive connections (Publisher).
// Every event is a tick (the product's validated type) of a symbol of the
// tool's and carries the symbol's sequence number, so each subscriber
// checks order, duplicates and gaps as events arrive; the publishers
// record when they sent each (SentLog), and latencies go into histograms
// rather than lists of samples. The tool
// reports its own CPU time per delivery, so a reader can see it was not
// the bottleneck.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"livefeed/feed"
)

// Config is what the command line asks for.
type Config struct {
	Workloads []*Workload
	URL       string
	Token     string
	// OpsToken is the server's server.ops_token, for /healthz's and
	// /metrics' figures from another machine ($LIVEFEED_OPS_TOKEN).
	OpsToken string
	// PID is the server's process, for its CPU time and memory (0: none).
	PID int
	// Runs is how many times each workload runs; the medians are checked.
	Runs int
	// SourceIPs spreads subscriber connections over 127.0.0.1 to
	// 127.0.0.N when the server is on loopback.
	SourceIPs int
	// Drain is how long to wait for outstanding deliveries once nothing
	// arrives any more, before counting them missing.
	Drain time.Duration
	// Durability is the server's store.synchronous, which picks W4's bar.
	Durability string
	// ServerBin, DB and ServerConfig start servers for W7; W13 starts
	// ServerBin too, its nodes on the NATS server at NATS.
	ServerBin, DB, ServerConfig string
	NATS                        string
	// BareURL and BarePID are the bare publish endpoint and fan-out
	// sketch (BareEndpoint) that W1, W2, W4 and W9 measure in the same run
	// as livefeed, each run alternating which goes first, and report
	// livefeed's ratio to.
	BareURL string
	BarePID int
	// StoreCPU is the store's CPU per event without HTTP, in
	// microseconds: BenchmarkGroupCommit's (store/bench_test.go),
	// measured in the same session. With BareURL, W4's bar is livefeed's
	// CPU per publish over the bare endpoint's plus this.
	StoreCPU float64
	// FsyncDir is where W4 times an fsync before and after each run
	// (default: the directory of -db, else the system's temporary one).
	FsyncDir string
	// CPUProfile, if set, is where the tool writes a CPU profile of
	// itself (to see what the tool, not the server, spends time on).
	CPUProfile string
	// Plot, if set, is where W14 writes its per-minute figures as SVG.
	Plot string
	// Override holds the workload parameters set by flags (unset: the
	// workload's default).
	Override Params
}

// ErrUsage is a command line of the load tool's that makes no sense: Main
// has printed what is wrong and the usage.
var ErrUsage = errors.New("usage")

// ParseArgs reads the command line of `livefeed bench`. getenv supplies the
// default token (the first of LIVEFEED_PUBLISH_TOKENS). Help asked for
// (-help, or -workloads, or -all-flags) is written to out and returned as
// flag.ErrHelp, as is the message of a bad flag, with the usage.
func ParseArgs(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := Config{Override: unsetParams()}
	fs := flag.NewFlagSet("livefeed bench", flag.ContinueOnError)
	fs.SetOutput(out)
	workloads := fs.String("workload", "", "the `workloads` to run: W1..W11, W13..W16, a comma-separated list, or all (all but the W11 soak, the W13 cluster, the W14 trading day, and W15 and W16, which take minutes and W16 a delayed tier in the server's configuration)")
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base `URL` of the server under test")
	fs.StringVar(&cfg.Token, "token", "", "the server's publish `token` (default: the first of $"+EnvPublishTokens+", else the sample config.toml's)")
	cfg.OpsToken = getenv(EnvOpsToken)
	fs.IntVar(&cfg.PID, "pid", 0, "the server's process `id`: enables server CPU per delivery and RSS figures (required by W3)")
	fs.IntVar(&cfg.Runs, "runs", 3, "runs of each workload; the median of each figure is checked against the bars")
	fs.IntVar(&cfg.SourceIPs, "source-ips", 4, "spread subscriber connections over 127.0.0.1..127.0.0.`N` when the server is on loopback")
	fs.DurationVar(&cfg.Drain, "drain", 30*time.Second, "after publishing, how long to wait without any new delivery before counting the rest missing")
	fs.StringVar(&cfg.Durability, "durability", "normal", "the server's store.synchronous (normal or full): picks W4's bar")
	fs.StringVar(&cfg.ServerBin, "server-bin", "", "livefeed `binary` that W7 and W13 start")
	fs.StringVar(&cfg.DB, "db", "", "database `file` for W7 (filled to -rows events if smaller)")
	fs.StringVar(&cfg.ServerConfig, "server-config", "", "config `file` passed to the servers W7 starts")
	fs.StringVar(&cfg.NATS, "nats", "", "`URL` of a NATS server with JetStream for W13's cluster (each run makes a stream of its own and deletes it)")
	fs.StringVar(&cfg.BareURL, "bare-url", "", "W1, W2, W4, W9: base `URL` of the bare endpoint and fan-out sketch (go run ./feed/bench/bare), measured in the same runs; livefeed's ratios to it are reported, and are W1's and W4's bars")
	fs.IntVar(&cfg.BarePID, "bare-pid", 0, "W1, W2, W4, W9: the bare endpoint's process `id`, for its CPU per delivery and per publish")
	fs.Float64Var(&cfg.StoreCPU, "store-cpu-us", 0, "W4: the store's CPU per event without HTTP, in `microseconds` (BenchmarkGroupCommit's cpu-ns/event / 1000, same session); with -bare-url, W4's bar is then server_cpu_us_per_publish_ratio_to_bare_and_store <= 1.2")
	fs.StringVar(&cfg.FsyncDir, "fsync-dir", "", "W4: `directory` on the database's disk to time fsync in (default: that of -db, else the temporary directory)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the load tool itself to `file`")
	o := &cfg.Override
	fs.IntVar(&o.Subscribers, "subscribers", unset, "override the workload's subscribers (W5: reconnecting clients)")
	fs.IntVar(&o.Publishers, "publishers", unset, "override the workload's publishers")
	fs.Float64Var(&o.Rate, "rate", unset, "override the events per second of all publishers together")
	fs.DurationVar(&o.Duration, "duration", unset, "override how long the publishers publish (W8: each phase)")
	fs.IntVar(&o.Payload, "payload", unset, "override the size in bytes of each event's data object")
	fs.IntVar(&o.Backlog, "backlog", unset, "override W5's events each client is behind")
	fs.IntVar(&o.Live, "live", unset, "override W5's live subscribers")
	fs.Int64Var(&o.Rows, "rows", unset, "override W6's export rows or W7's history rows")
	fs.IntVar(&o.PerRequest, "per-request", unset, "W4: events per publish request (one all-or-nothing batch; publishes_per_s counts events)")
	fs.IntVar(&o.Batch, "batch", unset, "override W3's subscribers per connect batch")
	fs.DurationVar(&o.Conflate, "conflate", unset, "W15: the `interval` the conflated subscribers ask for (default 1s)")
	fs.DurationVar(&o.Delay, "delay", unset, "W16: the `delay` of the server's delayed tier of bench/w16/* (default 60s)")
	fs.IntVar(&o.Symbols, "symbols", unset, "W14: how many symbols the ticker publishes (default 2000); W9: how many each connection publishes (default 400)")
	fs.Float64Var(&o.Resumes, "resumes", unset, "W14: resumes a second from random positions inside the retention window (default 5)")
	fs.DurationVar(&o.Retention, "retention", unset, "W14: the server's store.retention_age, which the tool cannot read (default 10m)")
	fs.DurationVar(&o.Interval, "interval", unset, "W14: the length of a row of the per-minute table (default 1m)")
	fs.StringVar(&cfg.Plot, "plot", "", "W14: write the per-minute figures as an SVG plot to `file` (run N > 1 to file-runN.svg)")
	listWorkloads := fs.Bool("workloads", false, "list the workloads: what each measures, its bars, and how the tool reads it")
	allFlags := fs.Bool("all-flags", false, "list every flag, with the overrides of the workloads' parameters")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	switch {
	case *listWorkloads:
		writeWorkloads(out)
		return Config{}, flag.ErrHelp
	case *allFlags:
		fmt.Fprintf(out, "%s\nEvery flag:\n", synopsis)
		fs.PrintDefaults()
		return Config{}, flag.ErrHelp
	case fs.NArg() > 0:
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *workloads == "":
		return Config{}, errors.New("-workload is required (W1..W11, W13..W16 or all; livefeed bench -workloads lists them)")
	case strings.EqualFold(*workloads, "all"):
		// The soak takes ten minutes a run, the trading day half an hour,
		// and the cluster needs NATS: only when asked for by name.
		for _, w := range Workloads {
			if w.Name != "W11" && w.Name != "W13" && w.Name != "W14" && w.Name != "W15" && w.Name != "W16" {
				cfg.Workloads = append(cfg.Workloads, w)
			}
		}
	default:
		for _, name := range strings.Split(*workloads, ",") {
			w, err := FindWorkload(strings.TrimSpace(name))
			if err != nil {
				return Config{}, err
			}
			cfg.Workloads = append(cfg.Workloads, w)
		}
	}
	if cfg.Token == "" {
		// The token a server was given in its environment, else the one
		// of the sample config.toml. (Not the flag's default: -help
		// would print it.)
		first, _, _ := strings.Cut(getenv(EnvPublishTokens), ",")
		cfg.Token = cmp.Or(strings.TrimSpace(first), sampleToken)
	}
	if cfg.Runs < 1 {
		return Config{}, fmt.Errorf("-runs %d: at least 1", cfg.Runs)
	}
	if cfg.Durability != "normal" && cfg.Durability != "full" {
		return Config{}, fmt.Errorf("-durability %q: normal or full", cfg.Durability)
	}
	if cfg.StoreCPU < 0 || math.IsNaN(cfg.StoreCPU) || math.IsInf(cfg.StoreCPU, 0) {
		return Config{}, fmt.Errorf("-store-cpu-us %v: a number of microseconds, 0 or more", cfg.StoreCPU)
	}
	return cfg, nil
}

// EnvPublishTokens is the server's variable of publish tokens, whose
// first the load tool publishes with unless -token is given.
const EnvPublishTokens = "LIVEFEED_PUBLISH_TOKENS"

// sampleToken is the publish token of the sample config.toml, the load
// tool's last default.
const sampleToken = "dev-publish-token-change-me"

// synopsis is the first line of the load tool's usage.
const synopsis = "usage: livefeed bench -workload W1..W11|W13..W16|all [-url URL] [-token T] [-pid N] [flags]\n"

// usedFlags are the flags -help shows; -all-flags shows every one.
var usedFlags = []string{"workload", "url", "token", "pid", "runs"}

// usage is -help: what the tool does, the flags most used, and where the
// rest is, in a screenful.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, synopsis+`
Drives a running livefeed server over real sockets with the workloads of the
performance page (web/docs/performance.md in the repository) and prints one
line of figures a run, then the median of the runs and each bar with MET or
NOT MET. Progress goes to stderr as "# ..." lines.

Flags most used:
`)
	used := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	used.SetOutput(w)
	for _, name := range usedFlags {
		f := fs.Lookup(name)
		used.Var(f.Value, f.Name, f.Usage)
	}
	used.PrintDefaults()
	fmt.Fprint(w, `
  livefeed bench -workloads    what each workload measures and how it is read
  livefeed bench -all-flags    every flag, with the workloads' parameters
`)
}

// writeWorkloads lists the workloads: each one's bench and bars as the
// performance page states them, and how the tool reads it.
func writeWorkloads(w io.Writer) {
	fmt.Fprint(w, `Workloads of web/docs/performance.md, each as the page states it, then how
the tool reads it. Figures end in their unit (_ms, _s, _kb, _mb,
_us_per_delivery, _per_s); client_cpu_* is the tool's own CPU: compare
client_cpu_cores with the machine's cores to see whether the tool, not the
server, was the limit. A run prints:

  W1 run=1 subscribers=10000 ... latency_p99_ms=41.2 ... client_cpu_us_per_delivery=2.1
  W1 median runs=3 ... latency_p99_ms=41.2 ...
  W1 bar latency_p99_ms=41.2 bar<=60 MET (median of 3 runs)
  W1 result MET (all 6 bars)
`)
	for _, wl := range Workloads {
		fmt.Fprintf(w, "\n%s  %s\n    %s\n", wl.Name, wl.Bench, wl.Reading)
	}
}

// Main runs `livefeed bench` with the arguments after "bench". Help
// asked for goes to stdout; a command line that makes no sense is said on
// stderr, with the usage, and returned as ErrUsage.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var said bytes.Buffer
	cfg, err := ParseArgs(args, getenv, &said)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(said.Bytes())
		return nil
	case said.Len() > 0: // a bad flag: flag printed it, with the usage
		stderr.Write(said.Bytes())
		return fmt.Errorf("%w: %w", ErrUsage, err)
	case err != nil:
		fmt.Fprintf(stderr, "livefeed bench: %v\n\n", err)
		ParseArgs([]string{"-help"}, getenv, stderr) // the usage
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if n, err := RaiseOpenFiles(); err != nil {
		fmt.Fprintf(stderr, "# cannot raise the open files limit: %v\n", err)
	} else {
		fmt.Fprintf(stderr, "# open files limit: %d\n", n)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return Run(ctx, cfg, stdout, stderr)
}

// Run runs the configured workloads, printing as Main describes. It
// returns an error if a run failed; bars not met are reported, not errors.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	_, err := RunReports(ctx, cfg, stdout, stderr)
	return err
}

// Report is the figures of every run of one workload.
type Report struct {
	Workload *Workload
	Params   Params
	Runs     []Figures
	Met      bool
}

// RunReports is Run returning the figures too.
func RunReports(ctx context.Context, cfg Config, stdout, stderr io.Writer) ([]Report, error) {
	target, err := NewTarget(cfg.URL, cfg.Token, cfg.SourceIPs)
	if err != nil {
		return nil, err
	}
	target.OpsToken = cfg.OpsToken
	var server *Process
	if cfg.PID > 0 {
		server = &Process{PID: cfg.PID}
		if _, err := server.CPU(); err != nil {
			return nil, fmt.Errorf("-pid %d: %w", cfg.PID, err)
		}
	}
	nonce := strconv.FormatInt(time.Now().Unix(), 36)
	// The server notices a closed stream only when it next writes to it
	// (an event or a heartbeat), so the subscribers of one run linger for
	// up to a heartbeat after it. Each run waits until they are gone, so
	// that it measures a server serving only its own subscribers.
	baseline := int64(-1)
	if h, err := target.Health(ctx); err == nil {
		baseline = h.Subscribers
	} else {
		fmt.Fprintf(stderr, "# GET /healthz: %v (runs will not wait for the server to drop old streams)\n", err)
	}
	var reports []Report
	var errs []error
	for _, w := range cfg.Workloads {
		p := w.Defaults.Override(cfg.Override)
		fmt.Fprintf(stdout, "# %s %s\n# %s reading: %s\n# %s params: %s\n", w.Name, w.Bench, w.Name, w.Reading, w.Name, describeParams(p))
		rep := Report{Workload: w, Params: p}
		for run := 1; run <= cfg.Runs; run++ {
			r := &runner{cfg: cfg, target: target, server: server, log: stderr, out: stdout, name: w.Name, run: run, nonce: nonce}
			if baseline >= 0 {
				r.settle(ctx, baseline)
			}
			f, err := w.run(ctx, r, p)
			if errors.Is(err, feed.ErrUnauthorized) {
				err = fmt.Errorf("%w: give one of the server's publish tokens with -token, or in the environment variable %s (without either, the sample config.toml's is sent)", err, EnvPublishTokens)
			}
			if err != nil {
				fmt.Fprintf(stdout, "%s run=%d error=%q\n", w.Name, run, err.Error())
				errs = append(errs, fmt.Errorf("%s run %d: %w", w.Name, run, err))
				if ctx.Err() != nil {
					return reports, errors.Join(errs...)
				}
				continue
			}
			WriteRun(stdout, w.Name, run, f)
			rep.Runs = append(rep.Runs, f)
		}
		rep.Met = WriteSummary(stdout, w.Name, rep.Runs, w.Bars(cfg))
		reports = append(reports, rep)
	}
	return reports, errors.Join(errs...)
}

// describeParams prints the parameters that matter, for the output.
func describeParams(p Params) string {
	var parts []string
	add := func(name string, v any, set bool) {
		if set {
			parts = append(parts, fmt.Sprintf("%s=%v", name, v))
		}
	}
	add("subscribers", p.Subscribers, p.Subscribers > 0)
	add("publishers", p.Publishers, p.Publishers > 0)
	add("rate", p.Rate, p.Publishers > 0 || p.Rate > 0)
	add("duration", p.Duration, p.Duration > 0)
	add("payload", p.Payload, p.Payload > 0)
	add("backlog", p.Backlog, p.Backlog > 0)
	add("live", p.Live, p.Live > 0)
	add("rows", p.Rows, p.Rows > 0)
	add("batch", p.Batch, p.Batch > 0)
	add("symbols", p.Symbols, p.Symbols > 0)
	add("resumes", p.Resumes, p.Resumes > 0)
	add("retention", p.Retention, p.Retention > 0)
	add("interval", p.Interval, p.Interval > 0)
	return strings.Join(parts, " ")
}
