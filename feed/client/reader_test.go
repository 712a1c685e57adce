package client_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"livefeed/feed/client"
)

func readAll(t *testing.T, r io.Reader) ([]client.Message, *client.Reader) {
	t.Helper()
	rd := client.NewReader(r)
	var events []client.Message
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return events, rd
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
}

// TestReader covers the cases of the WHATWG event stream interpretation.
func TestReader(t *testing.T) {
	type ev = client.Message
	for _, tc := range []struct {
		name   string
		stream string
		want   []ev
		lastID string
	}{
		{"OK", "id: 1\nevent: score\ndata: {}\n\n", []ev{{"1", "score", "{}"}}, "1"},
		{"DefaultType", "data: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"MultiLineData", "data: a\ndata: b\n\n", []ev{{"", "message", "a\nb"}}, ""},
		{"CRLF", "id: 7\r\ndata: x\r\n\r\n", []ev{{"7", "message", "x"}}, "7"},
		{"CR", "id: 7\rdata: x\r\r", []ev{{"7", "message", "x"}}, "7"},
		{"NoSpace", "data:x\n\n", []ev{{"", "message", "x"}}, ""},
		{"OnlyOneSpaceStripped", "data:  x\n\n", []ev{{"", "message", " x"}}, ""},
		{"Comment", ": hello\ndata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"IDOnlySetsPosition", "id: 9\n\n", nil, "9"},
		{"IDPersists", "id: 3\ndata: a\n\ndata: b\n\n", []ev{{"3", "message", "a"}, {"3", "message", "b"}}, "3"},
		{"IDWithNULIgnored", "id: 1\n\nid: 2\x003\ndata: x\n\n", []ev{{"1", "message", "x"}}, "1"},
		{"UnterminatedDiscarded", "data: a\n\ndata: b\n", []ev{{"", "message", "a"}}, ""},
		{"BOM", "\uFEFFdata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"FieldWithoutColon", "data\n\n", []ev{{"", "message", ""}}, ""},
		{"UnknownField", "foo: bar\ndata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"EmptyDataNoEvent", "event: x\n\n", nil, ""},
		{"InvalidUTF8Replaced", "data: \xff\n\n", []ev{{"", "message", "\uFFFD"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time too: line ends split across reads.
			for _, r := range []io.Reader{strings.NewReader(tc.stream), iotest.OneByteReader(strings.NewReader(tc.stream))} {
				got, rd := readAll(t, r)
				if len(got) != len(tc.want) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("event %d = %q, want %q", i, got[i], tc.want[i])
					}
				}
				if rd.LastEventID() != tc.lastID {
					t.Fatalf("LastEventID = %q, want %q", rd.LastEventID(), tc.lastID)
				}
			}
		})
	}
}

func TestReaderRetryAndComments(t *testing.T) {
	_, rd := readAll(t, strings.NewReader("retry: 2500\n: hi\nretry: x\n:\n\n"))
	if rd.Retry() != 2500*time.Millisecond || rd.Comments() != 2 {
		t.Fatalf("Retry = %v, Comments = %d", rd.Retry(), rd.Comments())
	}
}

// FuzzReader: any bytes a server (or something posing as one) sends are
// read without a panic, the events are the same however the stream is cut
// into reads, and what is handed over is valid UTF-8 with no NUL in an ID
// (WHATWG HTML §9.2.6).
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: score\ndata: {\"id\":1}\n\n",
		"\uFEFFdata: a\r\ndata: b\r\n\r\n",
		"retry: 2000\n: comment\n\nid: 7\n\n",
		"data: x\rid: \x00bad\r\r",
		"event: reset\ndata: {}\n\n\xff\xfe data:\n\n",
		"data",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, _ := readAll(t, strings.NewReader(string(stream)))
		cut, rd := readAll(t, iotest.OneByteReader(&chunkReader{data: stream, n: int(chunk%16) + 1}))
		if len(whole) != len(cut) {
			t.Fatalf("%d events whole, %d when cut into reads", len(whole), len(cut))
		}
		for i := range whole {
			if whole[i] != cut[i] {
				t.Fatalf("event %d: %+v whole, %+v cut", i, whole[i], cut[i])
			}
			m := whole[i]
			if !utf8.ValidString(m.Data) || !utf8.ValidString(m.Type) || !utf8.ValidString(m.ID) || strings.ContainsRune(m.ID, 0) {
				t.Fatalf("event %d: %+v", i, m)
			}
		}
		if rd.Retry() < 0 {
			t.Fatalf("retry %v", rd.Retry())
		}
	})
}

// chunkReader returns data n bytes at a time.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p, c.data[:min(c.n, len(c.data))])
	c.data = c.data[k:]
	return k, nil
}
