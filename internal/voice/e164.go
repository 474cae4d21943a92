package voice

import "strings"

// ParseE164 checks that s is an E.164 number: "+", then 8 to 15 digits, the first
// not 0. It returns s unchanged when valid.
func ParseE164(s string) (string, bool) {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// NormalizeE164 accepts a number with or without the leading "+" (as SIP
// Request-URIs often carry it) and returns its E.164 form.
func NormalizeE164(s string) (string, bool) {
	if !strings.HasPrefix(s, "+") {
		s = "+" + s
	}
	return ParseE164(s)
}
