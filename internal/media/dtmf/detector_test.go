package dtmf

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// pkt is one telephone-event RTP packet as the engine would hand it over.
type pkt struct {
	ts      uint32
	marker  bool
	payload []byte
}

// pl builds a payload, failing the test binary on a bad digit: the tables
// below are constants, so this can only be a typo.
func pl(digit rune, end bool, dur uint16) []byte {
	p, err := EncodePayload(digit, end, 10, dur)
	if err != nil {
		panic(err)
	}
	return p
}

// press is the packet train of one key press as RFC 4733 senders emit it:
// a start with the marker, one continuation per 20 ms (160 units at 8 kHz)
// and the end packet three times. firstDur is the start packet's duration
// (0 for sipp and some phones, 160 for most).
func press(digit rune, ts uint32, firstDur uint16, packets int) []pkt {
	out := []pkt{{ts, true, pl(digit, false, firstDur)}}
	dur := firstDur
	for range packets - 1 {
		dur += 160
		out = append(out, pkt{ts, false, pl(digit, false, dur)})
	}
	dur += 160
	for range 3 {
		out = append(out, pkt{ts, false, pl(digit, true, dur)})
	}
	return out
}

// feed runs packets through a fresh Detector and returns what it reported.
func feed(packets ...[]pkt) []Event {
	d := NewDetector()
	var got []Event
	for _, ps := range packets {
		for _, p := range ps {
			if ev, ok := d.Packet(p.ts, p.marker, p.payload); ok {
				got = append(got, ev)
			}
		}
	}
	return got
}

// digitsOf is the string of reported keys, for short failure messages.
func digitsOf(evs []Event) string {
	var b []rune
	for _, e := range evs {
		b = append(b, e.Digit)
	}
	return string(b)
}

func TestDetector(t *testing.T) {
	t.Parallel()
	wrapTS := uint32(0xFFFFFF60) // 160 units before the uint32 wrap
	tests := []struct {
		name    string
		packets [][]pkt
		want    []Event
	}{
		{
			name:    "normal press, start duration 160",
			packets: [][]pkt{press('5', 1000, 160, 5)},
			want:    []Event{{'5', 1000}},
		},
		{
			name:    "start duration 0 (sipp style)",
			packets: [][]pkt{press('1', 13280, 0, 7)},
			want:    []Event{{'1', 13280}},
		},
		{
			name:    "same digit twice is two presses",
			packets: [][]pkt{press('1', 1000, 160, 4), press('1', 3000, 160, 4)},
			want:    []Event{{'1', 1000}, {'1', 3000}},
		},
		{
			name:    "several digits",
			packets: [][]pkt{press('1', 1000, 0, 4), press('#', 2000, 0, 4), press('D', 3000, 0, 4)},
			want:    []Event{{'1', 1000}, {'#', 2000}, {'D', 3000}},
		},
		{
			name:    "lost start: continuations and ends only",
			packets: [][]pkt{press('7', 5000, 160, 5)[2:]},
			want:    []Event{{'7', 5000}},
		},
		{
			name:    "only the three end packets",
			packets: [][]pkt{press('9', 5000, 160, 5)[5:]},
			want:    []Event{{'9', 5000}},
		},
		{
			name:    "one end packet only",
			packets: [][]pkt{{{5000, false, pl('*', true, 800)}}},
			want:    []Event{{'*', 5000}},
		},
		{
			name: "late redundant ends after the next event began",
			packets: [][]pkt{
				press('1', 1000, 160, 3)[:4], // start, continuations, first end
				press('2', 2000, 160, 3)[:2],
				{{1000, false, pl('1', true, 640)}, {1000, false, pl('1', true, 640)}},
				press('2', 2000, 160, 3)[2:],
			},
			want: []Event{{'1', 1000}, {'2', 2000}},
		},
		{
			name: "late start after continuations (reordering)",
			packets: [][]pkt{{
				{1000, false, pl('3', false, 320)},
				{1000, true, pl('3', false, 160)},
				{1000, false, pl('3', true, 480)},
			}},
			want: []Event{{'3', 1000}},
		},
		{
			name:    "same digit twice, first end lost entirely",
			packets: [][]pkt{press('4', 1000, 160, 4)[:4], press('4', 2600, 160, 4)},
			want:    []Event{{'4', 1000}, {'4', 2600}},
		},
		{
			name: "flash (16) and other non-key events ignored",
			packets: [][]pkt{
				{{500, true, []byte{CodeFlash, 0x0a, 0, 160}}, {500, false, []byte{CodeFlash, 0x8a, 1, 64}}},
				{{600, true, []byte{32, 0x0a, 0, 160}}, {700, true, []byte{255, 0xff, 255, 255}}},
				press('6', 1000, 160, 2),
				{{1100, true, []byte{CodeFlash, 0x0a, 0, 0}}},
			},
			want: []Event{{'6', 1000}},
		},
		{
			name: "short and empty payloads ignored",
			packets: [][]pkt{{
				{1, true, nil}, {2, true, []byte{}}, {3, true, []byte{1}},
				{4, true, []byte{1, 0x8a}}, {5, true, []byte{1, 0x8a, 8}},
			}},
			want: nil,
		},
		{
			name: "longer payloads: first block counts",
			packets: [][]pkt{{
				{1000, true, append(pl('8', false, 160), pl('2', true, 800)...)}, // redundancy block
				{1000, false, append(pl('8', false, 320), 0xff)},                 // odd trailing byte
				{1000, false, append(pl('8', true, 480), make([]byte, 400)...)},  // garbage tail
			}},
			want: []Event{{'8', 1000}},
		},
		{
			name:    "timestamp wrap-around",
			packets: [][]pkt{press('1', wrapTS, 160, 3), press('1', wrapTS+1600, 160, 3), press('2', wrapTS+3200, 0, 3)},
			want:    []Event{{'1', wrapTS}, {'1', 0x5A0}, {'2', 0xBE0}},
		},
		{
			name: "timestamps going backwards (sipp captures replayed in any order)",
			packets: [][]pkt{
				press('1', 13280, 0, 7), press('2', 23200, 0, 7), press('3', 31040, 0, 7),
				press('4', 37120, 0, 7), press('5', 43200, 0, 7), press('6', 48800, 0, 7),
				press('7', 54720, 0, 7), press('8', 60000, 0, 7), press('9', 70000, 0, 7),
				press('0', 17632, 0, 7),
			},
			want: []Event{
				{'1', 13280}, {'2', 23200}, {'3', 31040}, {'4', 37120}, {'5', 43200},
				{'6', 48800}, {'7', 54720}, {'8', 60000}, {'9', 70000}, {'0', 17632},
			},
		},
		{
			name:    "two keys with one timestamp are two events",
			packets: [][]pkt{{{1000, true, pl('1', false, 0)}, {1000, true, pl('2', false, 0)}}},
			want:    []Event{{'1', 1000}, {'2', 1000}},
		},
		{
			name:    "long press in two segments is one press",
			packets: [][]pkt{longPress('0', 1000, 2)},
			want:    []Event{{'0', 1000}},
		},
		{
			name:    "long press in three segments across the wrap is one press",
			packets: [][]pkt{longPress('#', 0xFFFF0000, 3)},
			want:    []Event{{'#', 0xFFFF0000}},
		},
		{
			name:    "long press, segment start lost",
			packets: [][]pkt{dropPkt(longPress('5', 1000, 2), 4)},
			want:    []Event{{'5', 1000}},
		},
		{
			name: "long press ended, then the same key again at the segment boundary",
			packets: [][]pkt{{
				{1000, true, pl('5', false, 160)},
				{1000, false, pl('5', false, 0xFFFF)},
				{1000, false, pl('5', true, 0xFFFF)},
				{1000 + 0xFFFF, true, pl('5', false, 160)},
			}},
			want: []Event{{'5', 1000}, {'5', 1000 + 0xFFFF}},
		},
		{
			name: "long press, then another key at the boundary",
			packets: [][]pkt{{
				{1000, true, pl('5', false, 160)},
				{1000, false, pl('5', false, 0xFFFF)},
				{1000 + 0xFFFF, false, pl('6', false, 160)},
			}},
			want: []Event{{'5', 1000}, {'6', 1000 + 0xFFFF}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := feed(tt.packets...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v (%q), want %v (%q)", got, digitsOf(got), tt.want, digitsOf(tt.want))
			}
		})
	}
}

// longPress is a key held for segments*0xFFFF units (over 8 s at 8 kHz),
// sent as RFC 4733 section 2.5.1.3 segments: each segment's last packet has
// duration 0xFFFF without the E bit, and the next segment starts at the
// timestamp where that one ran out, without the marker.
func longPress(digit rune, ts uint32, segments int) []pkt {
	var out []pkt
	for s := range segments {
		segTS := ts + uint32(s)*0xFFFF
		out = append(out,
			pkt{segTS, s == 0, pl(digit, false, 160)},
			pkt{segTS, false, pl(digit, false, 320)},
			pkt{segTS, false, pl(digit, false, 0xFF00)},
		)
		if s < segments-1 {
			out = append(out, pkt{segTS, false, pl(digit, false, 0xFFFF)})
		}
	}
	last := ts + uint32(segments-1)*0xFFFF
	for range 3 {
		out = append(out, pkt{last, false, pl(digit, true, 0xFFF0)})
	}
	return out
}

// dropPkt returns ps without its i-th packet.
func dropPkt(ps []pkt, i int) []pkt {
	return slices.Delete(slices.Clone(ps), i, i+1)
}

func TestDetectorMemory(t *testing.T) {
	t.Parallel()
	// A late end packet is recognised while fewer than memorySize newer
	// events have started, and forgotten after that. The second half pins
	// down the documented limit, so a change to it is deliberate.
	d := NewDetector()
	if _, ok := d.Packet(100, true, pl('1', false, 0)); !ok {
		t.Fatal("first press not reported")
	}
	for i := range memorySize - 1 {
		if _, ok := d.Packet(uint32(1000*(i+1)), true, pl('2', false, 0)); !ok {
			t.Fatalf("press %d not reported", i+2)
		}
	}
	if ev, ok := d.Packet(100, false, pl('1', true, 800)); ok {
		t.Errorf("late end after %d newer events reported again: %v", memorySize-1, ev)
	}
	d.Packet(9000, true, pl('3', false, 0)) // the memorySize-th newer event
	if _, ok := d.Packet(100, false, pl('1', true, 800)); !ok {
		t.Errorf("late end after %d newer events was still remembered; memory grew?", memorySize)
	}
}

func TestDetectorZeroValueAndReset(t *testing.T) {
	t.Parallel()
	var d Detector
	if ev, ok := d.Packet(42, true, pl('A', false, 0)); !ok || ev != (Event{'A', 42}) {
		t.Fatalf("zero Detector: got %v %v", ev, ok)
	}
	if _, ok := d.Packet(42, false, pl('A', true, 320)); ok {
		t.Fatal("end of a reported press reported again")
	}
	d.Reset()
	if _, ok := d.Packet(42, false, pl('A', true, 320)); !ok {
		t.Fatal("after Reset the same (timestamp, code) must be new")
	}
}

func TestDetectorDuration(t *testing.T) {
	t.Parallel()
	d := NewDetector()
	var ev Event
	for i, p := range press('5', 1000, 0, 7) {
		if e, ok := d.Packet(p.ts, p.marker, p.payload); ok {
			ev = e
		}
		units, ended := d.Duration(ev)
		switch {
		case i < 7 && (ended || units != uint32(160*i)):
			t.Errorf("after packet %d: Duration = %d, %v; want %d, false", i, units, ended, 160*i)
		case i >= 7 && (!ended || units != 1120):
			t.Errorf("after end packet %d: Duration = %d, %v; want 1120, true", i, units, ended)
		}
	}

	// A long press: both segments add up.
	d = NewDetector()
	for _, p := range longPress('0', 1000, 3) {
		if e, ok := d.Packet(p.ts, p.marker, p.payload); ok {
			ev = e
		}
	}
	if units, ended := d.Duration(ev); !ended || units != 2*0xFFFF+0xFFF0 {
		t.Errorf("long press: Duration = %d, %v; want %d, true", units, ended, 2*0xFFFF+0xFFF0)
	}

	if units, ended := d.Duration(Event{'9', 1}); units != 0 || ended {
		t.Errorf("unknown press: Duration = %d, %v", units, ended)
	}
	if units, ended := d.Duration(Event{'x', 1000}); units != 0 || ended {
		t.Errorf("bad digit: Duration = %d, %v", units, ended)
	}
}

func TestDigitFromCode(t *testing.T) {
	t.Parallel()
	var got []rune
	for c := range 256 {
		d, ok := DigitFromCode(byte(c))
		if ok != (c < 16) {
			t.Errorf("DigitFromCode(%d) ok = %v", c, ok)
		}
		if ok {
			got = append(got, d)
			if back, ok := codeFromDigit(d); !ok || back != byte(c) {
				t.Errorf("codeFromDigit(%q) = %d, %v; want %d", d, back, ok, c)
			}
		}
	}
	if string(got) != "0123456789*#ABCD" {
		t.Errorf("codes 0-15 map to %q", string(got))
	}
}

func TestEncodePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		digit  rune
		end    bool
		volume uint8
		dur    uint16
		want   []byte
		err    error
	}{
		// The end packet of sipp's dtmf_2833_1.pcap, byte for byte.
		{'1', true, 10, 2240, []byte{0x01, 0x8a, 0x08, 0xc0}, nil},
		{'0', false, 0, 0, []byte{0, 0, 0, 0}, nil},
		{'*', false, 63, 0xFFFF, []byte{10, 63, 0xff, 0xff}, nil},
		{'#', true, 7, 160, []byte{11, 0x87, 0, 160}, nil},
		{'A', false, 10, 1, []byte{12, 10, 0, 1}, nil},
		{'d', false, 10, 1, []byte{15, 10, 0, 1}, nil},
		{'E', false, 10, 1, nil, ErrNotDigit},
		{'!', false, 10, 1, nil, ErrNotDigit},
		{0, false, 10, 1, nil, ErrNotDigit},
		{'5', false, 64, 1, nil, ErrVolume},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%v/%d/%d", tt.digit, tt.end, tt.volume, tt.dur), func(t *testing.T) {
			t.Parallel()
			got, err := EncodePayload(tt.digit, tt.end, tt.volume, tt.dur)
			if err != tt.err || !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x, %v; want % x, %v", got, err, tt.want, tt.err)
			}
			if err != nil {
				return
			}
			// And the Detector reads back what was encoded.
			ev, ok := NewDetector().Packet(7, true, got)
			want, _ := DigitFromCode(got[0])
			if !ok || ev.Digit != want {
				t.Errorf("Detector read %v, %v; want %q", ev, ok, want)
			}
		})
	}
}
