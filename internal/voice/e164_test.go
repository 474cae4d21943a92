package voice_test

import (
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/voice"
)

func TestParseE164(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"+15551234567", true},
		{"+12345678", true},          // 8 digits: the shortest accepted
		{"+123456789012345", true},   // 15 digits: the longest accepted
		{"+1234567", false},          // 7 digits
		{"+1234567890123456", false}, // 16 digits
		{"+05551234567", false},      // leading zero
		{"15551234567", false},       // no plus
		{"", false},
		{"+", false},
		{"++15551234567", false},
		{"+1555123456a", false},
		{"+1 555 123 4567", false},
		{" +15551234567", false},
		{"+15551234567 ", false},
		{"+1555-123-4567", false},
		{"+١٢٣٤٥٦٧٨٩", false}, // Arabic-Indic digits are not ASCII digits
		{"+15551234567\x00", false},
	}
	for _, tc := range tests {
		got, ok := voice.ParseE164(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseE164(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if ok && got != tc.in {
			t.Errorf("ParseE164(%q) = %q, want the input unchanged", tc.in, got)
		}
		if !ok && got != "" {
			t.Errorf("ParseE164(%q) = %q on failure, want \"\"", tc.in, got)
		}
	}
}

func TestNormalizeE164(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"15551234567", "+15551234567", true},
		{"+15551234567", "+15551234567", true},
		{"05551234567", "", false},
		{"1234567", "", false},
		{"", "", false},
		{"+", "", false},
		{"++15551234567", "", false},
		{"sip:15551234567", "", false},
	}
	for _, tc := range tests {
		got, ok := voice.NormalizeE164(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("NormalizeE164(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseE164 checks the E.164 parser's properties on arbitrary strings:
// it never panics; what it accepts is "+" then 8 to 15 ASCII digits, the first
// not 0, returned unchanged; NormalizeE164 is idempotent and agrees with
// ParseE164 on the "+"-prefixed form.
func FuzzParseE164(f *testing.F) {
	for _, s := range []string{"+15551234567", "15551234567", "+12345678", "+123456789012345", "+0123456789",
		"+1234567", "+1234567890123456", "", "+", "++1555123456", "+1555 123 456", "+1555123456\x00", "+१२३४५६७८९"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := voice.ParseE164(s)
		if ok {
			if got != s {
				t.Fatalf("ParseE164(%q) = %q, want the input unchanged", s, got)
			}
			checkE164Shape(t, got)
		} else if got != "" {
			t.Fatalf("ParseE164(%q) = %q on failure, want \"\"", s, got)
		}

		n, nok := voice.NormalizeE164(s)
		if nok {
			checkE164Shape(t, n)
			n2, ok2 := voice.NormalizeE164(n)
			if !ok2 || n2 != n {
				t.Fatalf("NormalizeE164 not idempotent: %q -> %q -> %q, %v", s, n, n2, ok2)
			}
			if p, pok := voice.ParseE164(n); !pok || p != n {
				t.Fatalf("NormalizeE164(%q) = %q, which ParseE164 refuses", s, n)
			}
		}
		if ok && (!nok || n != got) {
			t.Fatalf("ParseE164(%q) accepts but NormalizeE164 gives %q, %v", s, n, nok)
		}

		// Without the plus, normalizing equals parsing the plus-prefixed form.
		if !strings.HasPrefix(s, "+") {
			p, pok := voice.ParseE164("+" + s)
			if nok != pok || n != p {
				t.Fatalf("NormalizeE164(%q) = %q, %v but ParseE164(%q) = %q, %v", s, n, nok, "+"+s, p, pok)
			}
		}
	})
}

func checkE164Shape(t *testing.T, s string) {
	t.Helper()
	digits, ok := strings.CutPrefix(s, "+")
	if !ok {
		t.Fatalf("accepted %q does not start with +", s)
	}
	if len(digits) < 8 || len(digits) > 15 {
		t.Fatalf("accepted %q has %d digits, want 8 to 15", s, len(digits))
	}
	if digits[0] == '0' {
		t.Fatalf("accepted %q starts with 0", s)
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			t.Fatalf("accepted %q holds a non-digit %q", s, c)
		}
	}
}
