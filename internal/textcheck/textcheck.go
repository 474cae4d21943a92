// Package textcheck refuses text a database cannot store faithfully: a NUL
// character (PostgreSQL's text type cannot hold one, so it would fail as an
// internal error) and invalid UTF-8 (PostgreSQL refuses it, SQLite would keep
// bytes that come back as U+FFFD). The API checks request bodies, CSV rows,
// query parameters and path ids with it; call control checks the action
// lists applications return.
package textcheck

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is a string that failed the check, with the JSON path of the
// field that holds it ("name", "variables.order", "actions[2].text"; empty
// for the whole body).
type Problem struct {
	Path   string
	Reason string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// Reasons.
const (
	ReasonNUL  = "must not contain a NUL character"
	ReasonUTF8 = "must be valid UTF-8"
)

// String returns the reason s is refused, or "".
func String(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return ReasonNUL
	case !utf8.ValidString(s):
		return ReasonUTF8
	}
	return ""
}

// JSON checks every string (keys and values) of a JSON document: raw bytes
// must be valid UTF-8 and no string may decode to one holding NUL (written
// as \u0000). It returns the first Problem found, or nil; a document that is
// not JSON at all is left for the decoder to report (nil).
func JSON(doc []byte) *Problem {
	bad := -1
	if !utf8.Valid(doc) {
		bad = firstInvalid(doc)
	}
	if bad < 0 && !bytes.Contains(doc, []byte(`\u0000`)) {
		return nil // the common case: nothing to find, no second parse
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(doc))}
	w.dec.UseNumber()
	for {
		tok, err := w.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			break // syntax: the strict decoder says what is wrong
		}
		isKey := w.before(tok)
		path := w.path(tok)
		if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return &Problem{Path: path, Reason: ReasonNUL}
		}
		if bad >= 0 && w.dec.InputOffset() > int64(bad) {
			return &Problem{Path: path, Reason: ReasonUTF8}
		}
		w.after(tok, isKey)
	}
	if bad >= 0 {
		return &Problem{Reason: "body " + ReasonUTF8}
	}
	return nil
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// walker tracks where the decoder is in the document.
type walker struct {
	dec   *json.Decoder
	stack []*frame
}

type frame struct {
	object  bool
	key     string // the current key of an object
	wantKey bool   // an object's next string is a key
	index   int    // the current index of an array
}

// before reports whether tok is an object key.
func (w *walker) before(tok json.Token) bool {
	if len(w.stack) == 0 {
		return false
	}
	f := w.stack[len(w.stack)-1]
	if _, isDelim := tok.(json.Delim); isDelim && (tok == json.Delim('}') || tok == json.Delim(']')) {
		return false
	}
	if f.object && f.wantKey {
		if s, ok := tok.(string); ok {
			f.key = s
			return true
		}
	}
	return false
}

// path names the value (or key) tok is at.
func (w *walker) path(tok json.Token) string {
	var b strings.Builder
	for i, f := range w.stack {
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') && i == len(w.stack)-1 {
			break
		}
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strings.ToValidUTF8(strings.ReplaceAll(f.key, "\x00", `\u0000`), "\uFFFD"))
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

// after moves the position past tok.
func (w *walker) after(tok json.Token, isKey bool) {
	if isKey {
		w.stack[len(w.stack)-1].wantKey = false
		return
	}
	switch tok {
	case json.Delim('{'):
		w.stack = append(w.stack, &frame{object: true, wantKey: true})
		return
	case json.Delim('['):
		w.stack = append(w.stack, &frame{index: 0})
		return
	case json.Delim('}'), json.Delim(']'):
		w.stack = w.stack[:len(w.stack)-1]
	}
	// A value ended: the enclosing container moves on.
	if len(w.stack) > 0 {
		f := w.stack[len(w.stack)-1]
		if f.object {
			f.wantKey = true
		} else {
			f.index++
		}
	}
}
