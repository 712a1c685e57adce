package bench_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"livefeed/feed/bench"
	"livefeed/feed/client"
	"livefeed/feed/fanout"
)

// chunkReader returns its data in reads of at most n bytes, so a scanner
// sees frames cut at every possible place.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// scanAll returns every frame of a stream, with copies of its slices.
func scanAll(t testing.TB, stream string, chunk, size int) []bench.Frame {
	t.Helper()
	sc := bench.NewScanner(&chunkReader{data: []byte(stream), n: chunk}, size, nil)
	var frames []bench.Frame
	for {
		f, err := sc.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Event = bytes.Clone(f.Event)
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	}
}

func TestScanner(t *testing.T) {
	event := `{"id":42,"topic":"bench/w1","type":"bench","time":"2026-11-21T19:04:05.123Z","data":{"ts":1,"pub":0,"seq":1,"pad":""}}`
	for _, tc := range []struct {
		name   string
		stream string
		want   []bench.Frame
	}{
		{"Preamble", "retry: 2000\n: livefeed event stream\n\n", []bench.Frame{{ID: -1}}},
		{"Position", "id: 7\n\n", []bench.Frame{{HasID: true, ID: 7}}},
		{"Event", "id: 42\nevent: bench\ndata: " + event + "\n\n",
			[]bench.Frame{{HasID: true, ID: 42, Event: []byte("bench"), HasData: true, Data: []byte(event)}}},
		{"Heartbeat", ":\n\n", []bench.Frame{{ID: -1}}},
		{"Reset", "event: reset\ndata: {\"reason\":\"ahead\"}\n\n",
			[]bench.Frame{{ID: -1, Event: []byte("reset"), HasData: true, Data: []byte(`{"reason":"ahead"}`)}}},
		{"MultiLineData", "data: a\ndata: b\ndata:c\n\n", []bench.Frame{{ID: -1, HasData: true, Data: []byte("a\nb\nc")}}},
		{"NoSpaceAfterColon", "id:5\nevent:x\n\n", []bench.Frame{{HasID: true, ID: 5, Event: []byte("x")}}},
		{"FieldWithoutColon", "data\n\n", []bench.Frame{{ID: -1, HasData: true, Data: []byte("")}}},
		{"NotANumber", "id: abc\n\n", []bench.Frame{{HasID: true, ID: -1}}},
		{"IDOverflow", "id: 9223372036854775808\n\n", []bench.Frame{{HasID: true, ID: -1}}},
		{"IDWithNULIgnored", "id: 1\x00\n\n", []bench.Frame{{ID: -1}}},
		{"UnknownField", "foo: bar\nid: 3\n\n", []bench.Frame{{HasID: true, ID: 3}}},
		{"BlankLines", "\n\nid: 1\n\n\n", []bench.Frame{{ID: -1}, {HasID: true, ID: 1}}},
		{"CutOffFrameDiscarded", "id: 1\n\nid: 2\nevent: x\ndata: y\n", []bench.Frame{{HasID: true, ID: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 3, 1 << 20} {
				got := scanAll(t, tc.stream, chunk, 16)
				if len(got) != len(tc.want) {
					t.Fatalf("chunk %d: %d frames %+v, want %+v", chunk, len(got), got, tc.want)
				}
				for i := range got {
					g, w := got[i], tc.want[i]
					if g.HasID != w.HasID || g.ID != w.ID || !bytes.Equal(g.Event, w.Event) || g.HasData != w.HasData || !bytes.Equal(g.Data, w.Data) {
						t.Fatalf("chunk %d: frame %d = %+v, want %+v", chunk, i, g, w)
					}
				}
			}
		})
	}
}

func TestScannerFrameTooLong(t *testing.T) {
	stream := "data: " + strings.Repeat("x", bench.MaxFrame) + "\n\n"
	sc := bench.NewScanner(strings.NewReader(stream), 1024, nil)
	if _, err := sc.Next(); !errors.Is(err, bench.ErrFrameTooLong) {
		t.Fatalf("Next = %v, want ErrFrameTooLong", err)
	}
}

func TestScannerBuffered(t *testing.T) {
	// Bytes read along with the response headers come first.
	sc := bench.NewScanner(strings.NewReader("2\n\n"), 64, []byte("id: 1\n\nid: 1"))
	for _, want := range []int64{1, 12} {
		f, err := sc.Next()
		if err != nil || f.ID != want {
			t.Fatalf("frame %+v, %v; want id %d", f, err, want)
		}
	}
}

func TestParsePayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want bench.Payload
		ok   bool
	}{
		{"Envelope", `{"id":9,"topic":"t","type":"tick","time":"x","data":{"symbol":"S0003","price":117.25,"change":-7.75,"volume":17}}`,
			bench.Payload{Symbol: 3, Seq: 17}, true},
		{"AllFields", `{"data":{"symbol":"S1999","price":101.250000,"change":0.25,"change_pct":0.20,"volume":90000000,"currency":"USD"}}`,
			bench.Payload{Symbol: 1999, Seq: 90000000}, true},
		{"DataAlone", `{"symbol":"S12345","price":1,"volume":1}`, bench.Payload{Symbol: 12345, Seq: 1}, true},
		{"TopicNamedSymbol", `{"id":9,"topic":"symbol/S0001","type":"tick","time":"x","data":{"symbol":"S0002","price":1,"volume":5}}`,
			bench.Payload{Symbol: 2, Seq: 5}, true},
		{"ForeignTick", `{"id":1,"topic":"stocks/AAPL","type":"tick","time":"x","data":{"symbol":"AAPL","price":231.4,"volume":1200}}`, bench.Payload{}, false},
		{"ForeignSymbolStartingWithS", `{"data":{"symbol":"SPY","price":1,"volume":3}}`, bench.Payload{}, false},
		{"SymbolWithSuffix", `{"data":{"symbol":"S0001.L","price":1,"volume":3}}`, bench.Payload{}, false},
		{"ForeignEvent", `{"id":1,"topic":"nba/x","type":"score","time":"x","data":{"home":"A"}}`, bench.Payload{}, false},
		{"MissingVolume", `{"data":{"symbol":"S0001","price":1}}`, bench.Payload{}, false},
		{"VolumeNotAnInteger", `{"data":{"symbol":"S0001","price":1,"volume":1.5}}`, bench.Payload{}, false},
		{"VolumeString", `{"data":{"symbol":"S0001","price":1,"volume":"5"}}`, bench.Payload{}, false},
		{"Empty", ``, bench.Payload{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := bench.ParsePayload([]byte(tc.data))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("ParsePayload = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParsePayload: whatever the data, ParsePayload does not panic; and
// every tick the load tool writes reads back as its symbol and sequence
// number.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(`{"symbol":"S0003","price":117.25,"volume":17}`), 3, int64(17), 64)
	f.Add([]byte(`{"symbol":"S","price":1,"volume":}`), 0, int64(1), 0)
	f.Add([]byte(`{"symbol":"S99999999999999999999","volume":99999999999999999999}`), 1<<20, int64(1<<53), 100)
	f.Add([]byte(`{"symbol":"S0001"`), 1999, int64(90_000_000), 250)
	f.Fuzz(func(t *testing.T, data []byte, symbol int, seq int64, payload int) {
		bench.ParsePayload(data)
		if symbol < 0 || symbol > 1<<20 || seq < 1 || seq > 1<<53 || payload > 64<<10 {
			return
		}
		p, ok := bench.ParsePayload(bench.AppendTick(nil, symbol, seq, payload))
		if !ok || p.Symbol != symbol || p.Seq != seq {
			t.Fatalf("AppendTick(%d, %d, %d) reads back as %+v, %v", symbol, seq, payload, p, ok)
		}
	})
}

// FuzzScanner checks the scanner against the WHATWG reader on streams
// written the way the server writes them (fanout.AppendFrame), with
// heartbeats and position frames between events, read in chunks of every
// size: both must dispatch the same events with the same last event ID.
func FuzzScanner(f *testing.F) {
	f.Add(uint64(1), "bench", []byte(`{"id":1,"data":{"ts":1,"pub":0,"seq":1}}`), uint8(7), uint8(3))
	f.Add(uint64(0), "", []byte(""), uint8(1), uint8(1))
	f.Add(uint64(42), "a\r\nb", []byte("x\ny\r\nz\rw"), uint8(5), uint8(6))
	f.Add(uint64(1<<62), "reset", []byte("\n\n:\n\n"), uint8(100), uint8(2))
	f.Add(uint64(3), "ev:ent", []byte("data: \xff\xfe\nid: 9"), uint8(2), uint8(7))
	f.Fuzz(func(t *testing.T, id uint64, event string, data []byte, chunk uint8, frames uint8) {
		first := int64(id >> 2)
		stream := []byte("retry: 2000\n: livefeed event stream\n\n")
		for i := range int64(frames%8) + 1 {
			switch i % 4 {
			case 0, 1:
				stream = fanout.AppendFrame(stream, first+i, event, data)
			case 2:
				stream = append(stream, ":\n\n"...)
			case 3:
				stream = append(stream, "id: "+strconv.FormatInt(first+i, 10)+"\n\n"...)
			}
		}

		type dispatched struct{ id, typ, data string }
		var want []dispatched
		rd := client.NewReader(bytes.NewReader(stream))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			want = append(want, dispatched{ev.ID, ev.Type, ev.Data})
		}

		var got []dispatched
		lastID := ""
		sc := bench.NewScanner(&chunkReader{data: stream, n: int(chunk%32) + 1}, 64, nil)
		for {
			fr, err := sc.Next()
			if err != nil {
				break
			}
			if fr.HasID {
				lastID = strconv.FormatInt(fr.ID, 10)
			}
			if !fr.HasData {
				continue
			}
			typ := strings.ToValidUTF8(string(fr.Event), "\uFFFD")
			if typ == "" {
				typ = "message"
			}
			got = append(got, dispatched{lastID, typ, strings.ToValidUTF8(string(fr.Data), "\uFFFD")})
		}
		if len(got) != len(want) {
			t.Fatalf("scanner dispatched %d events %q, client.Reader %d %q", len(got), got, len(want), want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("event %d: scanner %q, client.Reader %q", i, got[i], want[i])
			}
		}
		if lastID != rd.LastEventID() {
			t.Fatalf("last event ID: scanner %q, client.Reader %q", lastID, rd.LastEventID())
		}
	})
}

// BenchmarkScanner measures the tool's parsing cost per event frame, the
// part of a delivery's cost that is the tool's own (the rest is the read
// system call).
func BenchmarkScanner(b *testing.B) {
	var stream []byte
	data := []byte(`{"id":1000000,"topic":"bench/w1/abc-r1","type":"tick","time":"2026-11-21T19:04:05.123Z","data":` + string(bench.AppendTick(nil, 0, 1, 100)) + `}`)
	for i := range 1000 {
		stream = fanout.AppendFrame(stream, int64(1000000+i), "tick", data)
	}
	b.SetBytes(int64(len(stream)) / 1000)
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	sc := bench.NewScanner(r, 32<<10, nil)
	for b.Loop() {
		f, err := sc.Next()
		if err != nil {
			r.Reset(stream)
			sc = bench.NewScanner(r, 32<<10, nil)
			continue
		}
		if _, ok := bench.ParsePayload(f.Data); !ok {
			b.Fatal("no payload")
		}
	}
}
