package dtmf

// Event is one detected key press.
type Event struct {
	// Digit is the key: '0'-'9', '*', '#' or 'A'-'D'.
	Digit rune
	// Timestamp is the RTP timestamp of the event start, which every packet
	// of the event carries. For a long press split into segments (RFC 4733
	// section 2.5.1.3) it is the start of the first segment.
	Timestamp uint32
}

// memorySize is how many recent events a Detector remembers. The end packet
// is sent three times, and a late copy can arrive after the next event has
// begun; eight events cover far more reordering than real networks show.
// A packet of an event that arrives after eight newer events is reported
// again. Dropping packets whose timestamp is older than the remembered ones
// would prevent that, but timestamps do go backwards: sipp replays each
// dtmf_2833_*.pcap with the timestamps it was recorded with, and "1" was
// recorded before "0", so "1234567890" would lose its "0".
const memorySize = 8

// segmentSlack is the tolerance, in RTP timestamp units, when recognising
// the next segment of a long event: the last packets of a segment can be
// lost, and senders differ on whether a segment ends at exactly 0xFFFF or
// at the last packet boundary below it.
const segmentSlack = 0x2000

// entry is one remembered event (or one segment of a long event).
type entry struct {
	ts    uint32 // RTP timestamp of this event or segment
	press uint32 // RTP timestamp of the press's first segment (ts if not segmented)
	dur   uint16 // largest duration seen, in RTP timestamp units from ts
	code  byte
	ended bool // an end (E bit) packet was seen
}

// Detector turns telephone-event RTP payloads into key presses. Not safe for
// concurrent use.
//
// An event is identified by its (RTP timestamp, event code) pair, so the
// detector reports a press on the first packet of a pair it has not seen,
// whatever that packet is: a start with marker and duration 0 or 160, a
// continuation after a lost start, or one of the end packets after losing
// everything else. Its memory is fixed (no allocation per packet), so it can
// run on every packet of every call.
type Detector struct {
	mem  [memorySize]entry // a ring, oldest event first from next once full
	n    int               // mem[:n] is in use
	next int               // where the next new event goes
}

// NewDetector returns a Detector that has seen no events. The zero Detector
// is also ready to use; NewDetector exists so callers need not know that.
func NewDetector() *Detector {
	return &Detector{}
}

// Reset forgets every event. Call it when the RTP stream is replaced (a new
// SSRC after a re-INVITE or transfer): the new stream could by chance reuse
// a remembered (timestamp, code) pair, and that press would then be taken
// for a retransmission.
func (d *Detector) Reset() {
	*d = Detector{}
}

// Packet handles one telephone-event RTP packet (its header's timestamp and
// marker, and payload); it returns the new press and true when this packet
// starts one.
//
// The marker bit is accepted but not relied on: the first packet, which
// carries it, is the one most often lost, and the (timestamp, code) pair
// already tells a new event from a continuation. Only the first 4-byte block
// of the payload is read; with RFC 4733 redundancy (section 2.5.1.5) the
// later blocks describe older events, which were reported when they were
// current. Payloads shorter than 4 bytes and non-key events (flash, tones)
// are ignored.
func (d *Detector) Packet(timestamp uint32, marker bool, payload []byte) (Event, bool) {
	if len(payload) < PayloadSize {
		return Event{}, false
	}
	code := payload[0]
	digit, ok := DigitFromCode(code)
	if !ok {
		return Event{}, false
	}
	end := payload[1]&0x80 != 0
	dur := uint16(payload[2])<<8 | uint16(payload[3])

	if i := d.find(timestamp, code); i >= 0 {
		// A continuation, a redundant end, or a late copy: already reported.
		e := &d.mem[i]
		e.dur = max(e.dur, dur)
		e.ended = e.ended || end
		return Event{}, false
	}

	press, report := timestamp, true
	if a := d.newest(); a != nil && a.code == code && !a.ended && nextSegment(a, timestamp) {
		// The same key still held past 0xFFFF units: same press.
		press, report = a.press, false
	}
	d.insert(entry{ts: timestamp, press: press, dur: dur, code: code, ended: end})
	if !report {
		return Event{}, false
	}
	return Event{Digit: digit, Timestamp: timestamp}, true
}

// Duration reports how long a recent press lasted, in RTP timestamp units,
// summed over the segments of a long press; ended is true once its end
// packet has arrived (until then units is the duration so far). A press the
// Detector has forgotten (more than eight events ago) reports 0, false.
func (d *Detector) Duration(ev Event) (units uint32, ended bool) {
	code, ok := codeFromDigit(ev.Digit)
	if !ok {
		return 0, false
	}
	var last *entry
	for i := range d.mem[:d.n] {
		e := &d.mem[i]
		if e.press == ev.Timestamp && e.code == code && (last == nil || e.ts-e.press > last.ts-last.press) {
			last = e
		}
	}
	if last == nil {
		return 0, false
	}
	return last.ts - last.press + uint32(last.dur), last.ended
}

// find returns the index of the remembered (timestamp, code) pair, or -1.
func (d *Detector) find(ts uint32, code byte) int {
	for i := range d.mem[:d.n] {
		if d.mem[i].ts == ts && d.mem[i].code == code {
			return i
		}
	}
	return -1
}

// newest returns the event that arrived last, or nil. Arrival order, not
// timestamp order, because timestamps can jump backwards: sipp replays each
// capture with the timestamps it was recorded with.
func (d *Detector) newest() *entry {
	if d.n == 0 {
		return nil
	}
	return &d.mem[(d.next+memorySize-1)%memorySize]
}

// insert remembers e, forgetting the event that arrived first when memory is
// full.
func (d *Detector) insert(e entry) {
	d.mem[d.next] = e
	d.next = (d.next + 1) % memorySize
	d.n = min(d.n+1, memorySize)
}

// nextSegment reports whether an event starting at ts is the next segment
// of the unfinished event a (RFC 4733 section 2.5.1.3): a's duration has
// reached the 16-bit limit, and ts is where that limit put a's end.
func nextSegment(a *entry, ts uint32) bool {
	const limit = 0xFFFF
	delta := ts - a.ts
	return a.dur >= limit-segmentSlack && delta >= limit-segmentSlack && delta <= limit+segmentSlack
}
