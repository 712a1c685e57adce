package fanout_test

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"livefeed/feed/client"
	"livefeed/feed/fanout"
)

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		event string
		data  string
		want  string
	}{
		{"OK", "score", `{"a":1}`, "id: 7\nevent: score\ndata: {\"a\":1}\n\n"},
		{"NoEvent", "", "x", "id: 7\ndata: x\n\n"},
		{"LFInData", "x", "a\nb", "id: 7\nevent: x\ndata: a\ndata: b\n\n"},
		{"CRLFInData", "x", "a\r\nb", "id: 7\nevent: x\ndata: a\ndata: b\n\n"},
		{"CRInData", "x", "a\rb", "id: 7\nevent: x\ndata: a\ndata: b\n\n"},
		{"InjectionInData", "x", "a\n\nid: 999\nevent: evil\ndata: pwned", "id: 7\nevent: x\ndata: a\ndata: \ndata: id: 999\ndata: event: evil\ndata: data: pwned\n\n"},
		{"InjectionInEvent", "x\n\nid: 999\ndata: y", "z", "id: 7\nevent: xid: 999data: y\ndata: z\n\n"},
		{"EmptyData", "x", "", "id: 7\nevent: x\ndata: \n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(fanout.AppendFrame(nil, 7, tc.event, []byte(tc.data))); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzAppendFrame checks that no event name or data can make a frame that a
// spec-compliant parser reads as anything but one event with this ID, this
// type and this data (CWE-93). The stream cannot carry a CR, so data comes
// back with every line break as LF.
func FuzzAppendFrame(f *testing.F) {
	f.Add(int64(1), "score", `{"home":"A"}`)
	f.Add(int64(0), "", "")
	f.Add(int64(42), "x\r\ny", "a\n\nid: 9\ndata: b")
	f.Add(int64(9), "e", "line\rline\r\n\r\nend\n")
	f.Add(int64(1<<62), ":comment", "\x00\xff\uFEFF")
	f.Add(int64(3), "t", strings.Repeat("x", 100000))
	f.Fuzz(func(t *testing.T, id int64, event, data string) {
		if id < 0 {
			id = -(id + 1)
		}
		frame := fanout.AppendFrame(nil, id, event, []byte(data))
		// A stream holds other frames before and after; the frame must
		// not bleed into them.
		stream := "data: before\n\n" + string(frame) + "data: after\n\n"
		rd := client.NewReader(strings.NewReader(stream))
		var got []client.Message
		for {
			ev, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
		if len(got) != 3 {
			t.Fatalf("frame %q parsed as %d events", frame, len(got)-2)
		}
		ev := got[1]
		if ev.ID != strconv.FormatInt(id, 10) {
			t.Fatalf("id = %q, want %d", ev.ID, id)
		}
		// Text is compared for valid UTF-8 only (the store accepts nothing
		// else): decoders differ in how many U+FFFD replace bad bytes.
		if utf8.ValidString(event) && utf8.ValidString(data) {
			wantType := strings.NewReplacer("\r", "", "\n", "").Replace(event)
			if wantType == "" {
				wantType = "message"
			}
			wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
			if ev.Type != wantType {
				t.Fatalf("type = %q, want %q", ev.Type, wantType)
			}
			if ev.Data != wantData {
				t.Fatalf("data = %q, want %q", ev.Data, wantData)
			}
		}
		if got[2].Data != "after" || got[2].ID != ev.ID {
			t.Fatalf("the frame changed the next event: %+v", got[2])
		}
	})
}
