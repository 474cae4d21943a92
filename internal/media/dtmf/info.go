package dtmf

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by ParseInfo, so that the SIP layer can answer 415 for a
// body it does not understand and 400 for a malformed one.
var (
	// ErrContentType means the INFO body is not application/dtmf-relay or
	// application/dtmf.
	ErrContentType = errors.New("dtmf: unsupported INFO content type")
	// ErrNoSignal means the body names no key: an empty application/dtmf
	// body, or a dtmf-relay body without a Signal line.
	ErrNoSignal = errors.New("dtmf: INFO body has no signal")
	// ErrBadSignal means the body names something that is not a key, such as
	// a hook flash (16) or garbage.
	ErrBadSignal = errors.New("dtmf: INFO signal is not a DTMF key")
)

// ParseInfo parses a SIP INFO body: Content-Type application/dtmf-relay
// ("Signal=5\r\nDuration=160\r\n", Signal may be a digit, *, #, A-D, or the
// numeric code 10 for * and 11 for #, case-insensitive keys, spaces allowed)
// and application/dtmf (body is just the digit). Returns the digit.
//
// The content type may carry parameters and any case; they are ignored.
// Lines may end in CRLF or LF, and unknown lines (Duration, vendor
// extensions) are skipped, because senders differ and only the key matters
// to the call. Letters come back upper-case, so callers compare one form.
// Numeric codes 12-15 are accepted as A-D for the same reason 10 and 11 are:
// some gateways copy the RFC 4733 code into the body.
func ParseInfo(contentType string, body []byte) (rune, error) {
	ct, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "application/dtmf-relay":
		for line := range bytes.Lines(body) {
			key, value, ok := bytes.Cut(line, []byte("="))
			if !ok || !strings.EqualFold(string(bytes.TrimSpace(key)), "signal") {
				continue
			}
			return parseSignal(bytes.TrimSpace(value))
		}
		return 0, ErrNoSignal
	case "application/dtmf":
		return parseSignal(bytes.TrimSpace(body))
	default:
		return 0, fmt.Errorf("%w: %q", ErrContentType, clip([]byte(contentType)))
	}
}

// parseSignal reads one key, either as its character or as its RFC 4733
// event code in decimal.
func parseSignal(v []byte) (rune, error) {
	if len(v) == 0 {
		return 0, ErrNoSignal
	}
	if len(v) == 1 {
		if code, ok := codeFromDigit(rune(v[0])); ok {
			d, _ := DigitFromCode(code)
			return d, nil
		}
	}
	if len(v) <= 3 {
		if n, err := strconv.ParseUint(string(v), 10, 8); err == nil {
			if d, ok := DigitFromCode(byte(n)); ok {
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrBadSignal, clip(v))
}

// clip shortens what goes into an error message, since it comes from the
// network and may be logged.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return append(b[:32:32], "..."...)
	}
	return b
}
