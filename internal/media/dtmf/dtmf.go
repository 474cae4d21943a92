// Package dtmf detects key presses (DTMF) sent out of band: as RFC 4733
// telephone-event RTP packets, or as SIP INFO bodies.
//
// The RTP side exists because the stock reader in diago drops the first
// packet of an event when its duration is 0, which is what sipp's shipped
// dtmf_2833_*.pcap files (and some real phones) send, and because a call
// engine needs "each press exactly once" in spite of redundant end packets,
// lost packets and reordering, which a reader that looks only at one packet
// at a time cannot give.
package dtmf

import "errors"

// PayloadSize is the size of one RFC 4733 event block: event code, E/R bits
// and volume, and a 16-bit duration.
const PayloadSize = 4

// CodeFlash is the RFC 4733 event code of a hook flash. It is not a key, so
// the Detector ignores it and DigitFromCode reports it as not a digit.
const CodeFlash = 16

// digits maps RFC 4733 event codes 0-15 (RFC 4733 section 3.2) to keys.
const digits = "0123456789*#ABCD"

// DigitFromCode maps an RFC 4733 event code to its key, ok=false for
// non-DTMF codes (flash, tones, trunk events), which a call engine must not
// treat as key presses.
func DigitFromCode(code byte) (rune, bool) {
	if int(code) >= len(digits) {
		return 0, false
	}
	return rune(digits[code]), true
}

// codeFromDigit is the inverse of DigitFromCode. It also accepts 'a'-'d',
// because SIP INFO senders and humans writing tests use either case.
func codeFromDigit(r rune) (byte, bool) {
	switch {
	case r >= '0' && r <= '9':
		return byte(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return byte(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return byte(r-'a') + 12, true
	}
	return 0, false
}

// ErrNotDigit is returned by EncodePayload for a rune that has no RFC 4733
// key code.
var ErrNotDigit = errors.New("dtmf: not a DTMF key (want 0-9, *, #, A-D)")

// ErrVolume is returned by EncodePayload for a volume above 63: the field is
// 6 bits wide, and silently masking it would send a different level.
var ErrVolume = errors.New("dtmf: volume out of range (0-63)")

// EncodePayload builds a 4-byte RFC 4733 payload. Volume is the power level
// in -dBm0 (0 loudest, 63 at most; 10 is a common choice); duration is in
// RTP timestamp units since the event started. It exists for tests and the
// network simulator; the platform's own sending goes through diago.
func EncodePayload(digit rune, end bool, volume uint8, duration uint16) ([]byte, error) {
	code, ok := codeFromDigit(digit)
	if !ok {
		return nil, ErrNotDigit
	}
	if volume > 63 {
		return nil, ErrVolume
	}
	b := volume
	if end {
		b |= 0x80
	}
	return []byte{code, b, byte(duration >> 8), byte(duration)}, nil
}
