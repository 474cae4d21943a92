package voice_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

var ulidRe = regexp.MustCompile(`^[0-9abcdefghjkmnpqrstvwxyz]{26}$`)

func TestNewIDShape(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, prefix := range []string{voice.PrefixCustomer, voice.PrefixKey, voice.PrefixApplication, voice.PrefixRate,
		voice.PrefixTrunk, voice.PrefixNumber, voice.PrefixCall, voice.PrefixEvent, voice.PrefixLedger,
		voice.PrefixRecording, voice.PrefixRequest} {
		id := voice.NewID(prefix, now)
		rest, ok := strings.CutPrefix(id, prefix+"_")
		if !ok {
			t.Fatalf("NewID(%q) = %q: missing prefix", prefix, id)
		}
		if !ulidRe.MatchString(rest) {
			t.Fatalf("NewID(%q) = %q: not 26 lowercase Crockford base32 digits", prefix, id)
		}
		if !voice.ValidID(prefix, id) {
			t.Fatalf("ValidID(%q, %q) = false for a fresh id", prefix, id)
		}
	}
}

func TestNewIDUnique(t *testing.T) {
	now := time.Now()
	seen := map[string]bool{}
	for range 10000 {
		id := voice.NewID(voice.PrefixCall, now)
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

// Ids of later milliseconds sort after earlier ones: the time is the prefix.
func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 200 {
		ids = append(ids, voice.NewID(voice.PrefixEvent, base.Add(time.Duration(i*i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("ids of increasing times are not sorted: %v", ids)
	}
	// The far future too: 48 bits of milliseconds last until the year 10889.
	a := voice.NewID("x", time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC))
	b := voice.NewID("x", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	if a >= b {
		t.Fatalf("%q >= %q", a, b)
	}
}

func TestNewIDTimePrefix(t *testing.T) {
	// The first 10 characters encode the 48-bit millisecond time.
	now := time.UnixMilli(1)
	id := voice.NewID("t", now)
	if got := id[len("t_"):][:10]; got != "0000000001" {
		t.Fatalf("time part of %q = %q, want 0000000001", id, got)
	}
	id = voice.NewID("t", time.UnixMilli(0))
	if got := id[len("t_"):][:10]; got != "0000000000" {
		t.Fatalf("time part of %q = %q, want 0000000000", id, got)
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		prefix, s string
		ok        bool
	}{
		{"call", "call_123", true},
		{"call", "call_01hx5z8k3m", true},
		{"call", "call_" + strings.Repeat("a", 64), true},
		{"call", "call_" + strings.Repeat("a", 65), false},
		{"call", "call_", false},
		{"call", "call", false},
		{"call", "cust_123", false},
		{"call", "call_ABC", false},
		{"call", "call_a-b", false},
		{"call", "call_a_b", false},
		{"call", "callx_123", false},
		{"call", "", false},
		{"num", "num_é", false},
	}
	for _, tc := range tests {
		if got := voice.ValidID(tc.prefix, tc.s); got != tc.ok {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tc.prefix, tc.s, got, tc.ok)
		}
	}
}

// Not parallel: the sequence is per process, and other tests' ids made at
// other instants would start new ones.
func TestNewIDMonotonicWithinAMillisecond(t *testing.T) {
	now := time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC) // later than any id the other tests make
	prev := voice.NewID("x", now)
	for range 10000 {
		id := voice.NewID("x", now)
		if id <= prev {
			t.Fatalf("%s made after %s in the same millisecond sorts before it", id, prev)
		}
		prev = id
	}
}
