package dtmf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// fuzzKey identifies an event the way the Detector does.
type fuzzKey struct {
	ts   uint32
	code byte
}

// fuzzPackets decodes fuzz input into a packet sequence. The first 4 bytes
// are the timestamp base, so runs near the uint32 wrap are reachable; then
// each packet is a selector byte, a flags byte and 0-7 payload bytes. The
// selector picks one of 64 timestamps 160 units apart, plus 0-3 times
// 0xFFFF so that long-event segment boundaries come up; keeping timestamps
// few makes repeated (timestamp, code) pairs, the interesting case, common.
func fuzzPackets(data []byte) []pkt {
	var base uint32
	if len(data) >= 4 {
		base, data = binary.BigEndian.Uint32(data), data[4:]
	}
	var out []pkt
	for len(data) >= 2 {
		sel, flags := data[0], data[1]
		data = data[2:]
		n := min(int(flags>>1&7), len(data))
		out = append(out, pkt{
			ts:      base + uint32(sel&0x3f)*160 + uint32(sel>>6)*0xFFFF,
			marker:  flags&1 != 0,
			payload: data[:n:n],
		})
		data = data[n:]
	}
	return out
}

func FuzzPacket(f *testing.F) {
	// Seeds: a normal press, a sipp press, a lost start, a long press, two
	// presses of one key. testdata/fuzz/FuzzPacket holds more.
	for _, ps := range [][]pkt{
		press('5', 160, 160, 4),
		press('1', 320, 0, 7),
		press('7', 480, 160, 5)[2:],
		longPress('0', 160, 2),
		append(press('1', 160, 160, 2), press('1', 800, 160, 2)...),
	} {
		f.Add(encodeFuzz(0xFFFFFF00, ps))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		packets := fuzzPackets(data)
		d := NewDetector()
		var (
			distinct    = map[fuzzKey]bool{}
			lastReport  = map[fuzzKey]int{} // packet index of the key's last report
			reports     int
			longDurSeen bool
		)
		for i, p := range packets {
			ev, ok := d.Packet(p.ts, p.marker, p.payload)
			var k fuzzKey
			isKey := false
			if len(p.payload) >= PayloadSize {
				if _, isKey = DigitFromCode(p.payload[0]); isKey {
					k = fuzzKey{p.ts, p.payload[0]}
					distinct[k] = true
					if binary.BigEndian.Uint16(p.payload[2:]) >= 0xFFFF-segmentSlack {
						longDurSeen = true
					}
				}
			}
			if !ok {
				if ev != (Event{}) {
					t.Fatalf("packet %d: no press but Event %v", i, ev)
				}
				continue
			}
			reports++
			if !isKey {
				t.Fatalf("packet %d (% x): press %v from a non-key packet", i, p.payload, ev)
			}
			if want, _ := DigitFromCode(p.payload[0]); ev != (Event{want, p.ts}) {
				t.Fatalf("packet %d: got %v, want %v", i, ev, Event{want, p.ts})
			}
			// A key is reported again only after it was forgotten, which
			// takes memorySize other keys arriving in between.
			if prev, seen := lastReport[k]; seen {
				others := map[fuzzKey]bool{}
				for _, q := range packets[prev+1 : i] {
					if len(q.payload) >= PayloadSize && q.payload[0] < 16 {
						if qk := (fuzzKey{q.ts, q.payload[0]}); qk != k {
							others[qk] = true
						}
					}
				}
				if len(others) < memorySize {
					t.Fatalf("packet %d: %v reported again after only %d other keys", i, ev, len(others))
				}
			}
			lastReport[k] = i
		}
		// While every key fits in memory: never more presses than distinct
		// (timestamp, code) pairs, and with no long-event segment in play,
		// exactly one per pair.
		if len(distinct) <= memorySize {
			if reports > len(distinct) {
				t.Fatalf("%d presses from %d distinct events", reports, len(distinct))
			}
			if !longDurSeen && reports != len(distinct) {
				t.Fatalf("%d presses from %d distinct events (no long events)", reports, len(distinct))
			}
		}
	})
}

// encodeFuzz is the inverse of fuzzPackets for packets whose timestamps are
// base plus a multiple of 160 below 64*160 (plus 0-3 times 0xFFFF).
func encodeFuzz(base uint32, ps []pkt) []byte {
	out := binary.BigEndian.AppendUint32(nil, base)
	for _, p := range ps {
		off := p.ts - base
		seg := off / 0xFFFF
		sel := byte(seg<<6) | byte((off-seg*0xFFFF)/160)
		flags := byte(len(p.payload)) << 1
		if p.marker {
			flags |= 1
		}
		out = append(out, sel, flags)
		out = append(out, p.payload...)
	}
	return out
}

func FuzzParseInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("Application/DTMF-Relay; x=y", []byte(" signal = 11 \n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf", []byte("10\r\n"))
	f.Add("text/plain", []byte("Signal=5"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		orig := string(body)
		d, err := ParseInfo(contentType, body)
		if string(body) != orig {
			t.Fatalf("body modified: %q -> %q", orig, body)
		}
		if err != nil {
			if d != 0 {
				t.Fatalf("error %v with digit %q", err, d)
			}
			if !errors.Is(err, ErrContentType) && !errors.Is(err, ErrNoSignal) && !errors.Is(err, ErrBadSignal) {
				t.Fatalf("error %v is none of the documented ones", err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("digit %q is not a key", d)
		}
		// Whatever was accepted names a key the other form agrees on.
		for _, again := range [][]byte{[]byte(string(d)), []byte("Signal=" + string(d) + "\r\n")} {
			ct := "application/dtmf"
			if bytes.HasPrefix(again, []byte("Signal")) {
				ct = "application/dtmf-relay"
			}
			if d2, err := ParseInfo(ct, again); err != nil || d2 != d {
				t.Fatalf("re-parsing %q: %q, %v", again, d2, err)
			}
		}
	})
}
