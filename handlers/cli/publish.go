package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"livefeed/feed"
	"livefeed/feed/client"
)

// maxBatch bounds -batch: a batch is one request body, within the
// server's server.max_body_bytes at its default for small events.
const maxBatch = 1000

// maxLine bounds a line of NDJSON input: an event's data is at most
// feed.MaxDataBytesLimit, and the envelope adds little.
const maxLine = feed.MaxDataBytesLimit + 64<<10

// replyGrace is how long an interrupted publish or import still waits for
// the answer to the batch it has sent, so that it can say whether that
// batch was stored.
const replyGrace = 5 * time.Second

// The values of -keys: how a batch's Idempotency-Key is made.
const (
	keysNone = "none" // no key: every run publishes what it is given
	keysFile = "file" // from the file's path and the batch's first line or row
)

// keysUsage is the -keys flag's help, unit being "line" or "row".
func keysUsage(unit string) string {
	return "how batches are keyed, so that a rerun is safe: " + keysNone + " (every run publishes every " + unit + " it is given), " +
		"or " + keysFile + " (keys from FILE's absolute path and each batch's first " + unit + ": running the same command " +
		"on the same FILE again, after a failure or an interruption, skips what was stored, within the server's store.idempotency_window)"
}

// Publish is `livefeed publish [-url URL] [-token T] [-batch N] [-keys
// none|file] [FILE]`: NDJSON events ({"topic", "type", "data"} a line)
// from FILE or stdin, published in batches, all or nothing each, each
// event's ID printed. It publishes what it is given: the same update
// given twice is two events. A file is checked whole before anything is
// sent; a pipe or a terminal is published as it arrives, a batch as soon
// as the input pauses. With -keys=file a rerun on the same FILE skips
// what an earlier run stored. It stops at the first line that is refused,
// here or by the server, and says exactly which lines were stored.
func Publish(ctx context.Context, e Env) error {
	ff := newFeedFlags("publish", "publish token", e)
	batch := ff.flags.Int("batch", 100, "events per request, 1 to 1000; each batch is published all or nothing")
	keys := ff.flags.String("keys", keysNone, keysUsage("line"))
	ff.flags.Usage = func() {
		fmt.Fprintf(ff.flags.Output(), "usage: livefeed publish [-url URL] [-token T] [-batch N] [-keys none|file] [FILE]\n\n"+
			"Publishes NDJSON events, one {\"topic\": ..., \"type\": ..., \"data\": {...}} a line,\n"+
			"from FILE or standard input, and prints the ID of each, a line each. Every\n"+
			"line is published, also one the same as an earlier line or an earlier run's.\n"+
			"A file is checked whole before anything is sent: a bad line publishes nothing.\n"+
			"A pipe or a terminal is published as it arrives (end a terminal with Ctrl-D).\n"+
			"At the end it says on stderr which lines were published, with their IDs; the\n"+
			"exit status is not 0 when any line was not stored (a bad line, a refusal by\n"+
			"the server, a broken connection, an interruption), and the message says which\n"+
			"were stored, which were not, and which may or may not be.\n\n")
		ff.flags.PrintDefaults()
	}
	args, err := ff.parseBatched(e, batch)
	if err != nil {
		return FlagError(err)
	}
	if len(args) > 1 {
		return UsageError(e.Stderr, ff.flags.Usage, "publish takes one file at most, not %d", len(args))
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
	}
	if err := checkKeys(*keys, path, "publish", ff.flags.Usage, e.Stderr); err != nil {
		return err
	}
	in, err := openInput(path, e.Stdin)
	if err != nil {
		return err
	}
	defer in.close()
	if *keys == keysFile && !in.regular {
		return UsageError(e.Stderr, ff.flags.Usage, "-keys=file needs a regular file, which a rerun reads again the same; %s is not one", in.name)
	}
	c, r, tokenFrom, err := ff.publisher(e)
	if err != nil {
		return err
	}
	if in.terminal {
		fmt.Fprintln(e.Stderr, "livefeed publish: reading events from the terminal, one JSON object a line; each is published as it is entered; Ctrl-D ends")
	}
	j := &job{
		name: in.name, unit: "line", size: *batch, paced: !in.regular,
		tokenFrom: tokenFrom, server: r, ids: e.Stdout,
		send: c.PublishBatchAck,
	}
	if *keys == keysFile {
		j.key = fileKeys("publish", in.path)
	}
	if err := j.run(ctx, in, func(r io.Reader) (reader, error) { return newNDJSONReader(r), nil }); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "livefeed publish: %s\n", j.summary())
	return nil
}

// checkKeys checks the value of -keys: a known one, and with file, a FILE
// to take keys from.
func checkKeys(keys, path, cmd string, usage func(), stderr io.Writer) error {
	switch {
	case keys != keysNone && keys != keysFile:
		return UsageError(stderr, usage, "-keys %q: use %s or %s", keys, keysNone, keysFile)
	case keys == keysFile && path == "":
		return UsageError(stderr, usage, "-keys=file takes its keys from FILE's path: name the file (livefeed %s -keys=file FILE); standard input has no name a rerun could be known by", cmd)
	}
	return nil
}

// fileKeys returns the Idempotency-Key of a batch of cmd's from the file
// at path (absolute, symbolic links resolved) starting at line or row
// first. Only the file and the place make the key, not the content: the
// server answers a batch it stored before with the IDs it gave then, and
// refuses (422) a batch whose key it knows with other content, so a rerun
// after the file changed or with another -batch stops and says so rather
// than storing anything twice.
func fileKeys(cmd, path string) func(first int) string {
	sum := sha256.Sum256([]byte(path))
	prefix := "livefeed-" + cmd + "-" + hex.EncodeToString(sum[:12]) + "-"
	return func(first int) string { return prefix + strconv.Itoa(first) }
}

// input is what publish or import reads: a named file or standard input.
type input struct {
	r        io.Reader
	f        *os.File // r as a file, nil if it is not one
	name     string   // for messages
	path     string   // the file's absolute path, symbolic links resolved; "" for standard input
	regular  bool     // a regular file: it is checked whole first, then read again
	terminal bool
	start    int64 // where reading starts in a regular file
	opened   bool  // f is ours to close
}

// openInput opens the file at path, or takes stdin if path is "".
func openInput(path string, stdin io.Reader) (*input, error) {
	in := &input{r: stdin, name: "standard input"}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real // one file by every link to it
		}
		in.r, in.name, in.path, in.opened = f, path, abs, true
	}
	if in.r == nil {
		return nil, errors.New("no input: name a file, or pipe NDJSON into livefeed publish")
	}
	in.f, _ = in.r.(*os.File)
	if in.f != nil {
		info, err := in.f.Stat()
		if err != nil {
			in.close()
			return nil, err
		}
		in.terminal = term.IsTerminal(int(in.f.Fd()))
		if info.Mode().IsRegular() {
			if in.start, err = in.f.Seek(0, io.SeekCurrent); err == nil {
				in.regular = true
			}
		}
	}
	return in, nil
}

func (in *input) close() {
	if in.opened {
		in.f.Close()
	}
}

// rewind starts the input again where it started.
func (in *input) rewind() error {
	_, err := in.f.Seek(in.start, io.SeekStart)
	return err
}

// reader reads the events of an input one at a time.
type reader interface {
	// next returns the next event and its place (its line or row,
	// counting from 1). At the end it returns io.EOF; at input that is
	// no event the server would take, a *badInput; at an error reading
	// the input, that error.
	next() (pos int, u feed.Update, err error)
}

// badInput is a line or row that is not an event the server would take.
type badInput struct {
	pos   int
	where string // "line 3", "row 2 (line 3)"
	err   error
}

func (b *badInput) Error() string { return b.where + ": " + b.err.Error() }
func (b *badInput) Unwrap() error { return b.err }

// ndjsonReader reads NDJSON events, checking each line as the server
// would. Blank lines are skipped.
type ndjsonReader struct {
	sc   *bufio.Scanner
	line int
}

func newNDJSONReader(r io.Reader) *ndjsonReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &ndjsonReader{sc: sc}
}

func (r *ndjsonReader) next() (int, feed.Update, error) {
	for r.sc.Scan() {
		r.line++
		text := bytes.TrimSpace(r.sc.Bytes())
		if len(text) == 0 {
			continue
		}
		updates, isBatch, err := feed.ParsePublish(text)
		if err == nil && isBatch {
			err = errors.New("a line holds one event object, not an array")
		}
		if err == nil {
			_, err = feed.ValidateBatch(updates)
		}
		if err != nil {
			return r.line, feed.Update{}, &badInput{pos: r.line, where: "line " + strconv.Itoa(r.line), err: err}
		}
		u := updates[0]
		u.Data = bytes.Clone(u.Data) // it points into the scanner's buffer, which the next line overwrites
		return r.line, u, nil
	}
	err := r.sc.Err()
	switch {
	case err == nil:
		return 0, feed.Update{}, io.EOF
	case errors.Is(err, bufio.ErrTooLong):
		return r.line + 1, feed.Update{}, &badInput{pos: r.line + 1, where: "line " + strconv.Itoa(r.line+1),
			err: fmt.Errorf("the line is longer than %d bytes, more than an event may be", maxLine)}
	}
	return r.line + 1, feed.Update{}, err
}

// job is one run of publish or import: it reads an input's events, sends
// them in batches, and keeps what became of each line or row, to say so.
type job struct {
	name      string // of the input
	unit      string // what a place counts: "line" or "row"
	size      int    // events a batch
	paced     bool   // the input comes at its own pace (a pipe, a terminal): a batch goes as soon as the input pauses
	key       func(first int) string
	tokenFrom string    // where the publish token came from, for a refused one
	server    remote    // the server it publishes to, for one that does not answer
	ids       io.Writer // each stored event's ID is written to it, a line each; nil for none
	send      func(ctx context.Context, updates []feed.Update, key string) (client.BatchAck, error)

	batch       []feed.Update
	first, last int    // the places of the batch's first and last events
	done        int    // the place of the last event stored
	lastPos     int    // the place of the input's last event, once known (a checked file); 0 until then
	spans       []span // what was stored, in the order of the input
	out         []byte
}

// span is consecutive lines or rows that were stored.
type span struct {
	first, last int
	replayed    bool // stored by an earlier run: this one published nothing of them
	ids         []idRange
}

// idRange is consecutive event IDs.
type idRange struct{ first, last int64 }

// item is what the reading goroutine hands over: an event, or why the
// events end.
type item struct {
	pos int
	u   feed.Update
	err error
}

// run publishes what open reads from in, checking a regular file whole
// first. It returns nil once every event was stored, or an error that
// says which places were stored, which were not and which may have been.
func (j *job) run(ctx context.Context, in *input, open func(io.Reader) (reader, error)) error {
	if in.regular {
		if err := j.check(in, open); err != nil {
			return err
		}
		if err := in.rewind(); err != nil {
			return fmt.Errorf("%s: %w; nothing was published", j.name, err)
		}
	}
	rd, err := open(in.r)
	if err != nil {
		return j.failed(err)
	}
	// An interrupted run still waits a moment for the answer to the batch
	// it has sent, so that it can tell whether that batch was stored.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(replyGrace, cancelSend) })
	defer stop()

	items := make(chan item, j.size)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			pos, u, err := rd.next()
			select {
			case items <- item{pos, u, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var it item
		select {
		case it = <-items:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			return j.failed(errInterrupted)
		}
		if it.err != nil {
			// The events before the end are sent first, in order.
			if err := j.flush(sendCtx); err != nil {
				return err
			}
			if errors.Is(it.err, io.EOF) {
				return nil
			}
			return j.failed(it.err)
		}
		if len(j.batch) == 0 {
			j.first = it.pos
		}
		j.batch, j.last = append(j.batch, it.u), it.pos
		if len(j.batch) == j.size || (j.paced && len(items) == 0) {
			if err := j.flush(sendCtx); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return j.failed(errInterrupted)
		}
	}
}

// check reads a regular file whole, so that a bad line or row is found
// before anything is sent, and notes its last event's place.
func (j *job) check(in *input, open func(io.Reader) (reader, error)) error {
	rd, err := open(in.r)
	for err == nil {
		var pos int
		if pos, _, err = rd.next(); err == nil {
			j.lastPos = pos
		}
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	var bad *badInput
	if errors.As(err, &bad) {
		return fmt.Errorf("%s, %w; nothing was published (the whole file is checked before anything is sent)", j.name, bad)
	}
	return fmt.Errorf("%s: %w; nothing was published", j.name, err)
}

// flush sends the batch, notes what was stored and writes its IDs.
func (j *job) flush(ctx context.Context) error {
	if len(j.batch) == 0 {
		return nil
	}
	key := ""
	if j.key != nil {
		key = j.key(j.first)
	}
	ack, err := j.send(ctx, j.batch, key)
	if err != nil {
		return j.sendFailed(err, key)
	}
	j.done = j.last
	if n := len(j.spans); n == 0 || j.spans[n-1].replayed != ack.Replayed {
		j.spans = append(j.spans, span{first: j.first, replayed: ack.Replayed})
	}
	s := &j.spans[len(j.spans)-1]
	s.last = j.last
	j.out = j.out[:0]
	for _, id := range ack.IDs {
		if n := len(s.ids); n > 0 && s.ids[n-1].last+1 == id {
			s.ids[n-1].last = id
		} else {
			s.ids = append(s.ids, idRange{id, id})
		}
		j.out = append(strconv.AppendInt(j.out, id, 10), '\n')
	}
	j.batch = j.batch[:0]
	if j.ids != nil {
		if _, err := j.ids.Write(j.out); err != nil {
			return fmt.Errorf("%s: %s; writing their IDs: %w", j.name, j.stored(), err)
		}
	}
	return nil
}

// summary says what a run that stored everything did.
func (j *job) summary() string {
	if len(j.spans) == 0 {
		return j.name + ": no events in it; nothing was published"
	}
	s := j.name + ": " + j.stored()
	if !j.published() {
		s += "; nothing new was published"
	}
	return s
}

// published reports whether this run stored anything itself.
func (j *job) published() bool {
	for _, s := range j.spans {
		if !s.replayed {
			return true
		}
	}
	return false
}

// stored says which places were stored, and as which IDs.
func (j *job) stored() string {
	var parts []string
	for _, s := range j.spans {
		what := "published"
		if s.replayed {
			what = "already stored by an earlier run"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", j.places(s.first, s.last), what, describeIDs(s.ids)))
	}
	return strings.Join(parts, ", ")
}

// errInterrupted is a run's context ending between batches.
var errInterrupted = errors.New("interrupted")

// failed returns the error of a run that stopped at err: an input that
// could not be opened (its header), a bad line or row, an error reading
// the input, or errInterrupted.
func (j *job) failed(err error) error {
	var bad *badInput
	switch {
	case errors.Is(err, errInterrupted):
		return j.report("interrupted", j.done, len(j.batch) > 0, true)
	case len(j.spans) == 0 && errors.As(err, &bad):
		return fmt.Errorf("%s, %w; nothing was published", j.name, bad)
	case errors.As(err, &bad):
		return j.report(bad.Error(), bad.pos, false, false)
	case len(j.spans) == 0:
		return fmt.Errorf("%s: %w; nothing was published", j.name, err)
	}
	return j.report(fmt.Sprintf("reading the input after %s %d: %v", j.unit, j.done, err), j.done, false, false)
}

// sendFailed returns the error of a run whose batch, sent with key, was
// not answered with its IDs.
func (j *job) sendFailed(err error, key string) error {
	what := j.places(j.first, j.last)
	// A rerun is worth it when the failure may pass: not when the
	// server refused the events, the token or the key.
	resumable := true
	var op *net.OpError
	if j.mayBeStored(err, key) {
		what += fmt.Sprintf(" may or may not be stored: %s (%v)", j.noAnswer(err), err)
	} else {
		what += " not stored: " + j.refusal(err, key)
		resumable = errors.As(err, &op) || errors.Is(err, feed.ErrUnavailable) || errors.Is(err, feed.ErrRateLimited) || errors.Is(err, feed.ErrTimeout)
	}
	report := j.report(what, j.last, false, resumable)
	if errors.As(err, &op) && op.Op == "dial" && j.server.url != "" {
		// Nobody there: say where it looked, and what to do.
		return fmt.Errorf("%w. No livefeed answers at %s. %s", report, j.server, j.server.whatToDo())
	}
	return report
}

// report builds the message of a run that stopped: which places were
// stored, what went wrong, and which were not sent: nothing after the
// place after, or the batch in hand (held) and what follows it. A run
// that may be rerun (resumable: the input is not at fault) says so when
// its keys make the rerun skip what was stored.
func (j *job) report(what string, after int, held, resumable bool) error {
	var b strings.Builder
	b.WriteString(j.name + ": ")
	if len(j.spans) > 0 {
		b.WriteString(j.stored() + "; ")
	}
	b.WriteString(what)
	switch {
	case j.lastPos > 0 && after < j.lastPos: // a checked file: its last place is known
		fmt.Fprintf(&b, "; %s not sent", j.places(after+1, j.lastPos))
	case j.lastPos > 0:
	case held:
		fmt.Fprintf(&b, "; %s read and not sent, nor anything after them", j.places(j.first, j.last))
	default:
		fmt.Fprintf(&b, "; nothing after %s %d was sent", j.unit, after)
	}
	switch {
	case len(j.spans) == 0:
		b.WriteString("; nothing was published")
	case !j.published():
		b.WriteString("; nothing new was published")
	}
	if j.key != nil && resumable {
		b.WriteString(". Run the same command again to publish the rest: what was stored is skipped")
	}
	return errors.New(b.String())
}

// mayBeStored reports whether a batch whose sending failed with err may
// have been stored: always, unless the server answered with a refusal
// (livefeed stores nothing of a refused request) or the connection could
// not be made. A request with a key may be sent again by the HTTP client
// on a new connection, after the first may have arrived.
func (j *job) mayBeStored(err error, key string) bool {
	var fe *feed.Error
	if errors.As(err, &fe) {
		// A kind of feed's table is a livefeed refusal; anything else,
		// a status of a proxy's such as 502.
		_, refused := feed.StatusOf(fe.Kind)
		return !refused
	}
	var op *net.OpError
	return key != "" || !errors.As(err, &op) || op.Op != "dial"
}

// noAnswer says why a batch got no answer.
func (j *job) noAnswer(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "interrupted while waiting for the server's answer"
	}
	return "the connection failed before the server's answer"
}

// refusal says why a batch was not stored.
func (j *job) refusal(err error, key string) string {
	var op *net.OpError
	switch {
	case errors.As(err, &op):
		return fmt.Sprintf("the server could not be reached (%v)", err)
	case errors.Is(err, feed.ErrUnauthorized):
		return fmt.Sprintf("the publish token given with %s was refused (%v)", j.tokenFrom, err)
	case errors.Is(err, feed.ErrKeyReused) && key != "":
		return fmt.Sprintf("an earlier run with -keys=file sent other events from %s %d of this file: the file changed since, or -batch differs from that run's (%v)", j.unit, j.first, err)
	}
	return fmt.Sprintf("refused by the server, one batch all or nothing (%v)", err)
}

// places names lines or rows first to last.
func (j *job) places(first, last int) string {
	if first == last {
		return j.unit + " " + strconv.Itoa(first)
	}
	return fmt.Sprintf("%ss %d to %d", j.unit, first, last)
}

// describeIDs names event IDs: all of them when they are a few ranges,
// else their bounds.
func describeIDs(ids []idRange) string {
	switch {
	case len(ids) == 1 && ids[0].first == ids[0].last:
		return "ID " + strconv.FormatInt(ids[0].first, 10)
	case len(ids) > 3:
		return fmt.Sprintf("IDs from %d to %d, with other publishers' events between", ids[0].first, ids[len(ids)-1].last)
	}
	parts := make([]string, len(ids))
	for i, r := range ids {
		parts[i] = strconv.FormatInt(r.first, 10)
		if r.last != r.first {
			parts[i] += " to " + strconv.FormatInt(r.last, 10)
		}
	}
	if len(parts) == 1 {
		return "IDs " + parts[0]
	}
	return "IDs " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
