package voice

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Default and maximum page sizes of every list endpoint.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// Cursor marks a position in a newest-first list: the last item a page held.
// The next page starts strictly after it, so rows inserted meanwhile (which are
// newer) never shift or repeat later pages.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

type cursorWire struct {
	T int64  `json:"t"`
	I string `json:"i"`
}

// Encode returns the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorWire{T: c.CreatedAt.UnixMilli(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a string made by Cursor.Encode.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, Invalid("after", "is not a valid cursor")
	}
	var w cursorWire
	if err := json.Unmarshal(b, &w); err != nil || w.I == "" {
		return Cursor{}, Invalid("after", "is not a valid cursor")
	}
	return Cursor{CreatedAt: time.UnixMilli(w.T).UTC(), ID: w.I}, nil
}

// Page is what every list call returns: up to Limit items newest first.
type Page struct {
	Limit int
	After *Cursor
}

// List is one page of results.
type List[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor"`
}

// Scope limits what a caller can see: empty fields mean no limit (the operator).
// Every store read and write that a client triggers takes one, so tenant
// isolation is enforced in the query itself, not by the handler remembering to check.
type Scope struct {
	CustomerID    string
	ApplicationID string
}
