package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"

	"livefeed/feed"
	"livefeed/handlers"
)

// maxBatch bounds -batch: a batch is one request body, within the
// server's server.max_body_bytes at its default for small events.
const maxBatch = 1000

// maxLine bounds a line of NDJSON input: an event's data is at most
// feed.MaxDataBytesLimit, and the envelope adds little.
const maxLine = feed.MaxDataBytesLimit + 64<<10

// Publish is `livefeed publish [-url URL] [-token T] [-batch N]
// [FILE]`: NDJSON events ({"topic", "type", "data"} a line) from FILE or
// stdin, published in batches, all or nothing each. Every batch carries an
// Idempotency-Key made from its lines and where they are in the input, so
// running the command again on the same input after an interruption
// publishes nothing twice (within the server's store.idempotency_window).
// It prints each event's ID, and stops at the first line that is refused,
// here or by the server, naming it.
func Publish(ctx context.Context, e Env) error {
	ff := newFeedFlags("publish", "publish token", e)
	batch := ff.flags.Int("batch", 100, "events per request, 1 to 1000; each batch is published all or nothing")
	ff.flags.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: livefeed publish [-url URL] [-token T] [-batch N] [FILE]\n\n"+
			"Publishes NDJSON events, one {\"topic\": ..., \"type\": ..., \"data\": {...}} a line,\n"+
			"from FILE or standard input, and prints the ID of each. A rerun on the same\n"+
			"input publishes nothing twice.\n\n")
		ff.flags.PrintDefaults()
	}
	if err := ff.flags.Parse(e.Args); err != nil {
		return FlagError(err)
	}
	if *batch < 1 || *batch > maxBatch {
		return UsageError(e.Stderr, ff.flags.Usage, "-batch %d is out of range: use 1 to %d events", *batch, maxBatch)
	}
	in, name := e.Stdin, "standard input"
	switch ff.flags.NArg() {
	case 0:
	case 1:
		f, err := os.Open(ff.flags.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, ff.flags.Arg(0)
	default:
		return UsageError(e.Stderr, ff.flags.Usage, "publish takes one file at most, not %d", ff.flags.NArg())
	}
	c, err := ff.client(e)
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("no input: name a file, or pipe NDJSON into livefeed publish")
	}
	p := &batcher{size: *batch, name: name, stdout: e.Stdout, send: func(updates []feed.Update, key string) ([]int64, error) {
		return c.PublishBatch(ctx, updates, key)
	}}
	return p.run(in)
}

// batcher reads NDJSON events, checks each line, and sends them in
// batches.
type batcher struct {
	size   int
	name   string // of the input, for errors
	unit   string // what the input's numbers count: "line" (default) or "row"
	stdout io.Writer
	send   func(updates []feed.Update, key string) ([]int64, error)

	updates []feed.Update
	lines   []int     // the input line of each of updates
	key     hash.Hash // of the batch's lines so far
	first   int       // the line the batch starts at
	out     []byte    // the IDs to print
}

// run reads in to the end, sending a batch whenever it is full.
func (b *batcher) run(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		updates, isBatch, err := handlers.ParsePublish(text)
		if err == nil && isBatch {
			err = errors.New("a line holds one event object, not an array")
		}
		if err == nil {
			_, err = feed.ValidateBatch(updates)
		}
		if err != nil {
			return fmt.Errorf("%s, line %d: %w; nothing from this line on was published", b.name, line, err)
		}
		if err := b.add(line, text, updates[0]); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s, line %d: %w", b.name, line+1, err)
	}
	return b.flush()
}

// add adds u, read from line as text, to the batch, and sends the batch
// once it is full. The batch's key is made from the text of its updates
// and the line it starts at.
func (b *batcher) add(line int, text []byte, u feed.Update) error {
	if len(b.updates) == 0 {
		if b.key == nil {
			b.key = sha256.New()
		}
		b.first = line
		b.key.Reset()
		fmt.Fprintf(b.key, "livefeed publish from %s %d\n", cmp.Or(b.unit, "line"), line)
	}
	b.key.Write(text)
	b.key.Write([]byte{'\n'})
	b.updates = append(b.updates, u)
	b.lines = append(b.lines, line)
	if len(b.updates) == b.size {
		return b.flush()
	}
	return nil
}

// flush sends the batch and prints its IDs.
func (b *batcher) flush() error {
	if len(b.updates) == 0 {
		return nil
	}
	key := "livefeed-publish-" + hex.EncodeToString(b.key.Sum(nil)[:16])
	ids, err := b.send(b.updates, key)
	if err != nil {
		unit := cmp.Or(b.unit, "line")
		where := fmt.Sprintf("%s %d", unit, b.first)
		if n := len(b.lines); n > 1 {
			where = fmt.Sprintf("%ss %d to %d", unit, b.first, b.lines[n-1])
		}
		return fmt.Errorf("%s, %s (one batch, refused whole): %w; the batches before it were published", b.name, where, err)
	}
	b.out = b.out[:0]
	for _, id := range ids {
		b.out = append(strconv.AppendInt(b.out, id, 10), '\n')
	}
	if _, err := b.stdout.Write(b.out); err != nil {
		return err
	}
	b.updates, b.lines = b.updates[:0], b.lines[:0]
	return nil
}
