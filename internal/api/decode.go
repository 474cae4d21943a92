package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// readBody reads the whole body, refusing more than MaxBodyBytes with 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, &voice.Error{Code: voice.ECodeInvalidJSON, Message: "could not read body: " + err.Error()}
	}
	if len(b) > MaxBodyBytes {
		return nil, withStatus(&voice.Error{Code: voice.ECodeInvalidRequest, Message: "body is larger than 1 MiB"}, http.StatusRequestEntityTooLarge)
	}
	return b, nil
}

// decodeJSON strictly decodes one JSON object into v: unknown fields are
// invalid_request naming the field, syntax and type errors are invalid_json.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	// Before decoding, which would turn invalid UTF-8 into U+FFFD and keep a
	// NUL that PostgreSQL cannot store: one check for every field of every body.
	if p := textcheck.JSON(body); p != nil {
		if p.Path == "" {
			return &voice.Error{Code: voice.ECodeInvalidRequest, Message: p.Reason}
		}
		return voice.Invalid(p.Path, "%s", p.Reason)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &voice.Error{Code: voice.ECodeInvalidJSON, Message: "body has data after the JSON value"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &voice.Error{Code: voice.ECodeInvalidJSON, Message: "body has data after the JSON value"}
	}
	return nil
}

func jsonError(err error) error {
	var ve *voice.Error
	if errors.As(err, &ve) {
		return ve
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &voice.Error{Code: voice.ECodeInvalidJSON, Param: typeErr.Field,
			Message: fmt.Sprintf("%s: must be %s, not %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		field := strings.TrimPrefix(msg, "json: unknown field ")
		if f, err := strconv.Unquote(field); err == nil {
			field = f // the message quotes the name with %q
		}
		return &voice.Error{Code: voice.ECodeInvalidRequest, Param: field, Message: field + ": unknown field"}
	}
	return &voice.Error{Code: voice.ECodeInvalidJSON, Message: "body is not valid JSON: " + err.Error()}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return kind
}

// checkRequestText refuses, before a handler runs, a path or query string
// holding text the database cannot store: an id with a NUL or invalid UTF-8
// names no object (404, as any unknown id), a query parameter is 422 naming
// it.
func checkRequestText(r *http.Request) error {
	if textcheck.String(r.URL.Path) != "" {
		return voice.Errorf(voice.ECodeNotFound, "no such object: the path has a NUL or invalid UTF-8")
	}
	for k, vs := range r.URL.Query() {
		if why := textcheck.String(k); why != "" {
			return &voice.Error{Code: voice.ECodeInvalidRequest, Message: "query parameter names " + why}
		}
		for _, v := range vs {
			if why := textcheck.String(v); why != "" {
				return voice.Invalid(k, "%s", why)
			}
		}
	}
	return nil
}

// checkInputText applies the request bodies' text rule (decodeJSON) to an
// input built by other code than the JSON decoder: the web console's forms
// reach the API's exported functions without going through a JSON body. It
// walks every string of in (struct fields by their JSON names, Opt values,
// slices, maps) and reports the first bad one, 422 naming its path.
func checkInputText(in any) error {
	if path, why := badString(reflect.ValueOf(in), ""); why != "" {
		return voice.Invalid(path, "%s", why)
	}
	return nil
}

func badString(v reflect.Value, path string) (string, string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", ""
		}
		return badString(v.Elem(), path)
	case reflect.String:
		return path, textcheck.String(v.String())
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p, why := badString(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); why != "" {
				return p, why
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key().Interface())
			if why := textcheck.String(k); why != "" {
				return path, why
			}
			if p, why := badString(it.Value(), dotted(path, k)); why != "" {
				return p, why
			}
		}
	case reflect.Struct:
		t := v.Type()
		if _, ok := t.FieldByName("Set"); ok && t.NumField() == 3 { // an Opt: its value stands for it
			return badString(v.FieldByName("Value"), path)
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if p, why := badString(v.Field(i), dotted(path, name)); why != "" {
				return p, why
			}
		}
	}
	return "", ""
}

func dotted(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkText refuses a named string argument of an exported function with a
// NUL or invalid UTF-8 (422 naming it), as checkInputText does for inputs.
func checkText(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if why := textcheck.String(pairs[i+1]); why != "" {
			return voice.Invalid(pairs[i], "%s", why)
		}
	}
	return nil
}

// badID reports an id no object can have (NUL, invalid UTF-8): such an id
// reads as not found, without asking a database that would fail on it.
func badID(id string) bool { return textcheck.String(id) != "" }

// required is the error of a required field that is missing: absent, null,
// or an empty (or all-blank) string. A field that is given but wrong keeps
// the message saying what is wrong with it.
func required(param string) *voice.Error { return voice.Invalid(param, "is required") }

// requiredE164 parses a required E.164 number field: "is required" when it
// is missing, "must be an E.164 number" when it is given but is not one.
func requiredE164(param, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", required(param)
	}
	e, ok := voice.ParseE164(v)
	if !ok {
		return "", voice.Invalid(param, "must be an E.164 number")
	}
	return e, nil
}

// maxNameLen bounds the name of a customer, application or trunk.
const maxNameLen = 200

// checkName checks a required name (already trimmed): present, and at most
// maxNameLen characters.
func checkName(param, name string) error {
	if name == "" {
		return required(param)
	}
	if utf8.RuneCountInString(name) > maxNameLen {
		return voice.Invalid(param, "must be at most %d characters", maxNameLen)
	}
	return nil
}

// Opt is a PATCH field: it tells "absent" from "null" from a value.
type Opt[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was present.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}
