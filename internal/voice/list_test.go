package voice_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []voice.Cursor{
		{CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC), ID: "call_01abc"},
		{CreatedAt: time.UnixMilli(0).UTC(), ID: "x"},
		{CreatedAt: time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), ID: "cust_with\"quote"},
	} {
		s := c.Encode()
		if strings.ContainsAny(s, "+/=") {
			t.Fatalf("cursor %q is not URL-safe unpadded base64", s)
		}
		got, err := voice.DecodeCursor(s)
		if err != nil {
			t.Fatalf("DecodeCursor(%q): %v", s, err)
		}
		if !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Fatalf("decoded time is not UTC: %v", got.CreatedAt)
		}
	}
}

// The cursor keeps milliseconds, the store's precision; finer parts are dropped.
func TestCursorMillisecondPrecision(t *testing.T) {
	c := voice.Cursor{CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 123_456_789, time.UTC), ID: "a"}
	got, err := voice.DecodeCursor(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if want := c.CreatedAt.Truncate(time.Millisecond); !got.CreatedAt.Equal(want) {
		t.Fatalf("got %v, want %v", got.CreatedAt, want)
	}
}

func TestDecodeCursorInvalid(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"",
		"!!!",
		"abc=",
		b64("not json"),
		b64(`{"t":1}`),           // no id
		b64(`{"t":1,"i":""}`),    // empty id
		b64(`{"t":"x","i":"a"}`), // time of the wrong type
		b64(`[]`),
	} {
		_, err := voice.DecodeCursor(s)
		if err == nil {
			t.Errorf("DecodeCursor(%q) accepted", s)
			continue
		}
		if code := voice.ErrorCode(err); code != voice.ECodeInvalidRequest {
			t.Errorf("DecodeCursor(%q) error code %q, want invalid_request", s, code)
		}
		var ve *voice.Error
		if e, ok := err.(*voice.Error); ok {
			ve = e
		}
		if ve == nil || ve.Param != "after" {
			t.Errorf("DecodeCursor(%q) error %v does not name param after", s, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(voice.Cursor{CreatedAt: time.UnixMilli(1700000000000), ID: "call_1"}.Encode())
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := voice.DecodeCursor(s)
		if err != nil {
			if voice.ErrorCode(err) != voice.ECodeInvalidRequest {
				t.Fatalf("DecodeCursor(%q): %v", s, err)
			}
			return
		}
		if c.ID == "" {
			t.Fatalf("DecodeCursor(%q) accepted an empty id", s)
		}
		again, err := voice.DecodeCursor(c.Encode())
		if err != nil || again != c {
			t.Fatalf("re-encoding %+v: %+v, %v", c, again, err)
		}
	})
}
