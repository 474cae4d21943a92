package voice

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
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
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms.
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
