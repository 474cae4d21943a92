package textcheck

import "testing"

func TestJSON(t *testing.T) {
	for _, c := range []struct {
		doc, path, reason string
	}{
		{`{"name": "ok", "list": ["a", "b"]}`, "", ""},
		{`{"name": "a\u0000b"}`, "name", ReasonNUL},
		{`{"a": {"b": [1, "x", "\u0000"]}}`, "a.b[2]", ReasonNUL},
		{`{"a": [{"x": 1}, {"y": "\u0000"}]}`, "a[1].y", ReasonNUL},
		{`{"ke\u0000y": "v"}`, `ke\u0000y`, ReasonNUL},
		{"{\"name\": \"a\xffb\"}", "name", ReasonUTF8},
		{"{\"a\": [\"ok\", {\"b\": \"\xc3\"}]}", "a[1].b", ReasonUTF8},
		{`["x", "\u0000"]`, "[1]", ReasonNUL},
		{`"\u0000"`, "", ReasonNUL},
		{`{"a": "\\u0000"}`, "", ""}, // an escaped backslash: the text \u0000, no NUL
		{`{"a": "\u00e9\ud83d\ude00"}`, "", ""},
		{"{\"a\": 1} \xff", "", "body " + ReasonUTF8},
	} {
		p := JSON([]byte(c.doc))
		switch {
		case c.reason == "" && p != nil:
			t.Errorf("%q: %v, want no problem", c.doc, p)
		case c.reason != "" && (p == nil || p.Path != c.path || p.Reason != c.reason):
			t.Errorf("%q: %+v, want %q at %q", c.doc, p, c.reason, c.path)
		}
	}
}

func TestString(t *testing.T) {
	if String("héllo") != "" || String("a\x00") != ReasonNUL || String("a\xff") != ReasonUTF8 {
		t.Error("String misjudges")
	}
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"a": ["\u0000", {"b": "c"}]}`))
	f.Add([]byte("{\"a\": \"\xff\"}"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = JSON(doc) // must not panic
	})
}
