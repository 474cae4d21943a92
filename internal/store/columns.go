package store

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msPtr converts an optional time to a nullable column value.
func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// timeCol scans Unix milliseconds into a time.Time.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.p = time.UnixMilli(n.Int64).UTC()
	return nil
}

// nullTimeCol scans nullable Unix milliseconds into a *time.Time.
type nullTimeCol struct{ p **time.Time }

func (c nullTimeCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	if !n.Valid {
		*c.p = nil
		return nil
	}
	t := time.UnixMilli(n.Int64).UTC()
	*c.p = &t
	return nil
}

// jsonCol stores any value as JSON text.
type jsonCol struct{ p any }

func (c jsonCol) Value() (driver.Value, error) {
	b, err := json.Marshal(c.p)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func (c jsonCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), c.p)
	case []byte:
		return json.Unmarshal(v, c.p)
	default:
		return fmt.Errorf("json column: unexpected %T", src)
	}
}

// decCol scans a decimal string; nullDecCol a nullable one.
type decCol struct{ p *decimal.Decimal }

func (c decCol) Scan(src any) error { return c.p.Scan(src) }

type nullDecCol struct{ p **decimal.Decimal }

func (c nullDecCol) Scan(src any) error {
	if src == nil {
		*c.p = nil
		return nil
	}
	var d decimal.Decimal
	if err := d.Scan(src); err != nil {
		return err
	}
	*c.p = &d
	return nil
}

// decVal is a decimal's column value; nullDec a nullable one's.
func decVal(d decimal.Decimal) string { return d.String() }

func nullDec(d *decimal.Decimal) any {
	if d == nil {
		return nil
	}
	return d.String()
}

// nullStr is an optional string's column value.
func nullStr[T ~string](s *T) any {
	if s == nil {
		return nil
	}
	return string(*s)
}

// nullStrCol scans a nullable text column into a *string.
type nullStrCol struct{ p **string }

func (c nullStrCol) Scan(src any) error { return nullTextCol[string](c).Scan(src) }

// nullTextCol scans a nullable text column into a pointer to a string type
// (a hangup cause or source).
type nullTextCol[T ~string] struct{ p **T }

func (c nullTextCol[T]) Scan(src any) error {
	var n sql.NullString
	if err := n.Scan(src); err != nil {
		return err
	}
	if !n.Valid {
		*c.p = nil
		return nil
	}
	s := T(n.String)
	*c.p = &s
	return nil
}

// nullIntCol scans a nullable integer into a *int.
type nullIntCol struct{ p **int }

func (c nullIntCol) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	if !n.Valid {
		*c.p = nil
		return nil
	}
	v := int(n.Int64)
	*c.p = &v
	return nil
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
