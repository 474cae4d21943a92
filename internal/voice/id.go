package voice

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// ID prefixes, one per object type.
const (
	PrefixCustomer    = "cust"
	PrefixKey         = "key"
	PrefixApplication = "app"
	PrefixRate        = "rate"
	PrefixTrunk       = "trunk"
	PrefixNumber      = "num"
	PrefixCall        = "call"
	PrefixEvent       = "evt"
	PrefixLedger      = "led"
	PrefixRecording   = "rec"
	PrefixRequest     = "req"
	PrefixSIPRefusal  = "sref"
	PrefixReview      = "rev"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns prefix + "_" + a 26-character lowercase ULID: 48 bits of
// milliseconds then 80 random bits, so ids sort roughly by creation time, which
// keeps index inserts local and makes ids readable in logs.
//
// Within one millisecond a process's ids still come out in creation order:
// the random part of each is the previous one's plus a random step (as ULID's
// monotonic mode does, with a step that keeps the next id unguessable), so
// lists sorted by (created_at, id) show objects made in the same millisecond
// newest first as well.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	monotonic.next(ms, b[6:])
	// 128 bits as 26 base32 digits, most significant first (first digit carries 3 bits).
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return prefix + "_" + string(out[:])
}

// ValidID reports whether s is syntactically an id of the given prefix: the prefix,
// "_", then 1..64 lowercase letters or digits. The seed's "call_123" qualifies.
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) == 0 || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// monotonic is the random part of the last id made, per process.
var monotonic idEntropy

type idEntropy struct {
	mu   sync.Mutex
	ms   uint64
	last [10]byte
}

// next fills out (10 bytes) with the random part of an id made in
// millisecond ms: in the millisecond of the newest id so far, that id's
// random part plus a random step of 1 to 2^32, so it sorts after it (on the
// astronomically unlikely overflow, fresh bytes); otherwise fresh random
// bytes.
func (e *idEntropy) next(ms uint64, out []byte) {
	var step [4]byte
	_, _ = rand.Read(step[:]) // crypto/rand.Read never fails on supported platforms.
	e.mu.Lock()
	defer e.mu.Unlock()
	if ms == e.ms {
		carry := uint64(binary.BigEndian.Uint32(step[:])) + 1
		for i := len(e.last) - 1; i >= 0 && carry > 0; i-- {
			sum := uint64(e.last[i]) + carry&0xff
			e.last[i] = byte(sum)
			carry = carry>>8 + sum>>8
		}
		if carry == 0 {
			copy(out, e.last[:])
			return
		}
	}
	if ms < e.ms {
		// An earlier clock reading (a goroutine that read the time before
		// the last id's): its own random bytes, leaving the newest
		// millisecond's sequence as it is.
		_, _ = rand.Read(out)
		return
	}
	_, _ = rand.Read(e.last[:])
	e.ms = ms
	copy(out, e.last[:])
}
