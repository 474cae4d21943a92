package dtmf

import (
	"errors"
	"strings"
	"testing"
)

func TestParseInfo(t *testing.T) {
	t.Parallel()
	const relay = "application/dtmf-relay"
	tests := []struct {
		name        string
		contentType string
		body        string
		want        rune
		err         error
	}{
		{"relay, CRLF", relay, "Signal=5\r\nDuration=160\r\n", '5', nil},
		{"relay, LF", relay, "Signal=5\nDuration=160\n", '5', nil},
		{"relay, no trailing newline", relay, "Signal=9", '9', nil},
		{"relay, spaces", relay, "  Signal = # \r\n Duration = 250 \r\n", '#', nil},
		{"relay, tabs", relay, "Signal\t=\t*\r\n", '*', nil},
		{"relay, key case", relay, "SIGNAL=1\r\n", '1', nil},
		{"relay, key lower case", relay, "signal=0\r\n", '0', nil},
		{"relay, duration first", relay, "Duration=160\r\nSignal=7\r\n", '7', nil},
		{"relay, unknown lines", relay, "Foo=bar\r\njunk line\r\n\r\nSignal=3\r\n", '3', nil},
		{"relay, 10 is star", relay, "Signal=10\r\n", '*', nil},
		{"relay, 11 is pound", relay, "Signal=11\r\n", '#', nil},
		{"relay, 12 is A", relay, "Signal=12\r\n", 'A', nil},
		{"relay, 15 is D", relay, "Signal=15\r\n", 'D', nil},
		{"relay, leading zero code", relay, "Signal=05\r\n", '5', nil},
		{"relay, letter", relay, "Signal=B\r\n", 'B', nil},
		{"relay, lower-case letter", relay, "Signal=c\r\n", 'C', nil},
		{"relay, first signal wins", relay, "Signal=1\r\nSignal=2\r\n", '1', nil},
		{"content type case", "Application/DTMF-Relay", "Signal=4\r\n", '4', nil},
		{"content type parameters", "application/dtmf-relay; charset=utf-8", "Signal=6\r\n", '6', nil},
		{"content type spaces", "  application/dtmf-relay ;x=y", "Signal=6\r\n", '6', nil},
		{"dtmf", "application/dtmf", "5", '5', nil},
		{"dtmf, newline", "application/dtmf", "#\r\n", '#', nil},
		{"dtmf, spaces and case", " Application/Dtmf ; foo", " a ", 'A', nil},
		{"dtmf, code", "application/dtmf", "10", '*', nil},

		{"relay, empty body", relay, "", 0, ErrNoSignal},
		{"relay, no signal", relay, "Duration=160\r\n", 0, ErrNoSignal},
		{"relay, signal without =", relay, "Signal 5\r\n", 0, ErrNoSignal},
		{"relay, empty signal", relay, "Signal=\r\n", 0, ErrNoSignal},
		{"relay, flash", relay, "Signal=16\r\n", 0, ErrBadSignal},
		{"relay, hook flash name", relay, "Signal=hf\r\n", 0, ErrBadSignal},
		{"relay, two keys", relay, "Signal=12 3\r\n", 0, ErrBadSignal},
		{"relay, E", relay, "Signal=E\r\n", 0, ErrBadSignal},
		{"relay, 256", relay, "Signal=256\r\n", 0, ErrBadSignal},
		{"relay, negative", relay, "Signal=-1\r\n", 0, ErrBadSignal},
		{"relay, long garbage", relay, "Signal=" + strings.Repeat("x", 1000), 0, ErrBadSignal},
		{"relay, non-ASCII", relay, "Signal=\xc3\xa9\r\n", 0, ErrBadSignal},
		{"relay, other key name", relay, "Signals=5\r\n", 0, ErrNoSignal},
		{"dtmf, empty", "application/dtmf", "  \r\n", 0, ErrNoSignal},
		{"dtmf, two digits", "application/dtmf", "55", 0, ErrBadSignal},
		{"dtmf, relay body", "application/dtmf", "Signal=5", 0, ErrBadSignal},
		{"wrong type", "text/plain", "Signal=5\r\n", 0, ErrContentType},
		{"empty type", "", "5", 0, ErrContentType},
		{"sdp", "application/sdp", "v=0\r\n", 0, ErrContentType},
		{"similar type", "application/dtmf-relayx", "Signal=5\r\n", 0, ErrContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseInfo(tt.contentType, []byte(tt.body))
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("ParseInfo(%q, %q) = %q, %v; want %q, %v", tt.contentType, tt.body, got, err, tt.want, tt.err)
			}
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("error message not bounded: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestParseInfoDoesNotModifyBody(t *testing.T) {
	t.Parallel()
	// The error path shortens long values; it must copy, not write into the
	// caller's buffer (which may be the SIP message).
	body := []byte("Signal=" + strings.Repeat("y", 40) + "\r\nDuration=1\r\n")
	orig := string(body)
	if _, err := ParseInfo("application/dtmf-relay", body); !errors.Is(err, ErrBadSignal) {
		t.Fatalf("err = %v", err)
	}
	if string(body) != orig {
		t.Errorf("body changed to %q", body)
	}
}
