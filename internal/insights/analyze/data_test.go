package analyze

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func TestEmbeddedData(t *testing.T) {
	t.Parallel()
	r := loadResources()
	if n := len(r.valence); n < 7000 {
		t.Errorf("%d lexicon words, want the ~7,200 single words of VADER", n)
	}
	if n := len(r.surprise); n != 30000 {
		t.Errorf("%d background words, want 30000", n)
	}
	if len(backgroundTSV) > 400<<10 {
		t.Errorf("background is %d bytes, over 400 KiB", len(backgroundTSV))
	}
	for _, tt := range []struct {
		word string
		want float64
		m    map[string]float64
	}{
		{"good", 1.9, r.valence}, {"terrible", -2.1, r.valence}, {"ok", 1.2, r.valence},
		{"the", 1.39, r.surprise}, {"refund", 5.04, r.surprise}, {"appointment", 4.95, r.surprise},
	} {
		if got, ok := tt.m[tt.word]; !ok || got != tt.want {
			t.Errorf("%q: %v (%v), want %v", tt.word, got, ok, tt.want)
		}
	}
	if r.rarest < 6 || r.rarest > 7 || r.surpriseOf("zzyzzx") != r.rarest {
		t.Errorf("rarest %v, unknown word %v", r.rarest, r.surpriseOf("zzyzzx"))
	}
}

func TestParseResources(t *testing.T) {
	t.Parallel()
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.Bytes()
	}
	tests := []struct {
		name, vader string
		background  []byte
		err         string
	}{
		{"ok", "# comment\n\ngood\t1.9\n", gz("the\t-1.39\nzebra\t-6.1\n"), ""},
		{"no tab", "good 1.9\n", gz("the\t-1.39\n"), "vader.tsv: line 1: no tab"},
		{"bad number", "good\tx\n", gz("the\t-1.39\n"), "vader.tsv: line 1"},
		{"not gzip", "good\t1\n", []byte("the\t-1"), "background.tsv.gz"},
		{"empty", "", gz(""), "empty"},
	}
	for _, tt := range tests {
		r, err := parseResources([]byte(tt.vader), tt.background)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err == "" && (r.rarest != 6.1 || r.valence["good"] != 1.9):
			t.Errorf("%s: %+v", tt.name, r)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"hello world", "hello|world"},
		{"Don’t STOP!!", "don't|stop"},
		{"'quoted' words' 'n", "quoted|words|n"},
		{"über-café 42nd", "über|café|42nd"},
		{"\x00\xff ''' …", ""},
		{"", ""},
	} {
		if got := strings.Join(tokens(tt.in), "|"); got != tt.want {
			t.Errorf("tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClockAndDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0:00", 3.9: "0:03", 65: "1:05", 3599: "59:59", 3600: "1:00:00", 3725: "1:02:05", -4: "0:00"} {
		if got := clock(in); got != want {
			t.Errorf("clock(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int]string{1: "1 s", 60: "1 min", 61: "1 min 1 s", 3600: "1 h", 3601: "1 h 1 s", 7322: "2 h 2 min 2 s"} {
		if got := duration(in); got != want {
			t.Errorf("duration(%d) = %q, want %q", in, got, want)
		}
	}
}
