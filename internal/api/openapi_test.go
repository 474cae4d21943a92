package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// The OpenAPI document (openapi.json) is written by hand. These tests keep it
// honest: every route is documented with the right access, nothing documented
// is missing from the route table, every resource schema lists exactly the JSON
// fields of its Go type, every $ref resolves, and error codes map to the
// statuses voice.Error gives them.

// openAPIDoc parses the embedded document.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("openapi.json is not a JSON object: %v", err)
	}
	return doc
}

// obj returns m[key] as an object, failing the test when it is not one.
func obj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is not an object (got %T)", key, m[key])
	}
	return v
}

// resolve follows a local $ref ("#/components/...") to its target.
func resolve(doc map[string]any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("%q is not a local reference", ref)
	}
	var cur any = doc
	if ptr == "" {
		return cur, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer", ref)
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%q: no %q", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q: no index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

// deref returns v, or what it points to when it is a {"$ref": ...} object.
func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("expected an object, got %T", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v = mustResolve(t, doc, ref)
	}
	t.Fatalf("$ref chain too long")
	return nil
}

func mustResolve(t *testing.T, doc map[string]any, ref string) any {
	t.Helper()
	v, err := resolve(doc, ref)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenAPIDocumentShape(t *testing.T) {
	t.Parallel()
	raw := api.OpenAPIDocument()
	doc := openAPIDoc(t)
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info := obj(t, doc, "info")
	for _, f := range []string{"title", "version"} {
		if s, _ := info[f].(string); s == "" {
			t.Errorf("info.%s is missing", f)
		}
	}
	if len(obj(t, doc, "paths")) == 0 {
		t.Error("paths is empty")
	}
	comps := obj(t, doc, "components")
	for _, f := range []string{"schemas", "parameters", "responses", "securitySchemes"} {
		obj(t, comps, f)
	}
	bearer := obj(t, obj(t, comps, "securitySchemes"), "bearerAuth")
	if bearer["type"] != "http" || bearer["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearerAuth = %v, want http bearer", bearer)
	}
	if !requiresBearer(doc["security"]) {
		t.Errorf("top-level security = %v, want bearerAuth", doc["security"])
	}

	// Kept pretty-printed with a 2-space indent, so diffs stay readable.
	var compact, pretty bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&pretty, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if !bytes.Equal(pretty.Bytes(), raw) {
		t.Error("openapi.json is not pretty-printed with a 2-space indent and a final newline (reformat it with json.Indent or jq --indent 2)")
	}
}

// requiresBearer reports whether a security requirement list includes bearerAuth.
func requiresBearer(v any) bool {
	list, _ := v.([]any)
	for _, req := range list {
		if m, ok := req.(map[string]any); ok {
			if _, ok := m["bearerAuth"]; ok {
				return true
			}
		}
	}
	return false
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// accessKinds is what x-minivoice-access must say for each Route.Access.
var accessKinds = map[api.Access][]string{
	api.Public:       {},
	api.OperatorOnly: {"operator"},
	api.CustomerKeys: {"operator", "customer"},
	api.AnyKey:       {"operator", "customer", "application"},
}

// listsWithoutPaging are list answers that return everything in one page and
// read neither limit nor after.
var listsWithoutPaging = map[string]bool{"GET /v1/calls/{id}/events": true}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	paths := obj(t, doc, "paths")
	routes := api.New(api.Config{}).Routes()
	if len(routes) == 0 {
		t.Fatal("Routes() is empty")
	}

	routeSet := map[string]api.Route{}
	for _, rt := range routes {
		routeSet[strings.ToLower(rt.Method)+" "+rt.Path] = rt
	}

	// Every operation in the document is a route: no stale docs.
	opIDs := map[string]string{}
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("paths[%q] is not an object", path)
			continue
		}
		for key := range item {
			switch {
			case slices.Contains(httpMethods, key):
				if _, ok := routeSet[key+" "+path]; !ok {
					t.Errorf("%s %s is documented but is not in Routes()", strings.ToUpper(key), path)
				}
				op, _ := item[key].(map[string]any)
				id, _ := op["operationId"].(string)
				if id == "" {
					t.Errorf("%s %s has no operationId", strings.ToUpper(key), path)
				} else if prev, dup := opIDs[id]; dup {
					t.Errorf("operationId %q is used by %s and %s %s", id, prev, strings.ToUpper(key), path)
				} else {
					opIDs[id] = strings.ToUpper(key) + " " + path
				}
			case key == "parameters" || key == "summary" || key == "description":
			default:
				t.Errorf("paths[%q] has unexpected key %q", path, key)
			}
		}
	}

	// Every route is documented, with its access, summary and parameters.
	for _, rt := range routes {
		name := rt.Method + " " + rt.Path
		item, ok := paths[rt.Path].(map[string]any)
		if !ok {
			t.Errorf("%s is not documented: paths has no %q", name, rt.Path)
			continue
		}
		op, ok := item[strings.ToLower(rt.Method)].(map[string]any)
		if !ok {
			t.Errorf("%s is not documented: paths[%q] has no %s", name, rt.Path, strings.ToLower(rt.Method))
			continue
		}
		t.Run(name, func(t *testing.T) { checkOperation(t, doc, rt, item, op) })
	}
}

func checkOperation(t *testing.T, doc map[string]any, rt api.Route, item, op map[string]any) {
	want, ok := accessKinds[rt.Access]
	if !ok {
		t.Fatalf("no x-minivoice-access mapping for Access %d", rt.Access)
	}
	raw, ok := op["x-minivoice-access"].([]any)
	if !ok {
		t.Errorf("x-minivoice-access missing or not a list: %v", op["x-minivoice-access"])
	}
	got := make([]string, 0, len(raw))
	for _, k := range raw {
		s, _ := k.(string)
		got = append(got, s)
	}
	if !slices.Equal(got, want) {
		t.Errorf("x-minivoice-access = %q, want %q", got, want)
	}
	if op["summary"] != rt.Summary {
		t.Errorf("summary = %q, want the route's %q", op["summary"], rt.Summary)
	}

	// Security: bearer everywhere but on public routes.
	sec, overridden := op["security"]
	if rt.Access == api.Public {
		if list, ok := sec.([]any); !overridden || !ok || len(list) != 0 {
			t.Errorf("public route: security = %v, want []", sec)
		}
	} else if overridden && !requiresBearer(sec) {
		t.Errorf("security = %v, want bearerAuth", sec)
	}

	// Parameters: path-level and operation-level, resolved.
	params := map[string]map[string]any{} // "in name" -> parameter
	for _, list := range []any{item["parameters"], op["parameters"]} {
		l, _ := list.([]any)
		for _, p := range l {
			pm := deref(t, doc, p)
			in, _ := pm["in"].(string)
			name, _ := pm["name"].(string)
			params[in+" "+name] = pm
		}
	}
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(rt.Path, -1) {
		p, ok := params["path "+m[1]]
		if !ok {
			t.Errorf("path parameter %q is not documented", m[1])
		} else if p["required"] != true {
			t.Errorf("path parameter %q is not required", m[1])
		}
	}
	if rt.Method == http.MethodPost {
		if _, ok := params["header Idempotency-Key"]; !ok {
			t.Error("POST without the Idempotency-Key header parameter")
		}
	}

	responses, ok := op["responses"].(map[string]any)
	if !ok || len(responses) == 0 {
		t.Fatal("no responses")
	}
	hasSuccess := false
	for code, r := range responses {
		rm := deref(t, doc, r)
		if d, _ := rm["description"].(string); d == "" {
			t.Errorf("response %s has no description", code)
		}
		if strings.HasPrefix(code, "2") {
			hasSuccess = true
		}
		if code == "429" {
			h, _ := rm["headers"].(map[string]any)
			if _, ok := h["Retry-After"]; !ok {
				t.Error("429 response without a Retry-After header")
			}
		}
		if n, err := strconv.Atoi(code); err == nil && n >= 400 && rt.Path != "/readyz" {
			if !contentIs(doc, rm, "ErrorBody") {
				t.Errorf("response %s is not an ErrorBody", code)
			}
		}
	}
	if !hasSuccess {
		t.Error("no 2xx response")
	}
	if rt.Access != api.Public {
		for _, code := range []string{"401", "403"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("authenticated route without a %s response", code)
			}
		}
	}

	// Paginated lists document limit and after.
	if rt.Method == http.MethodGet && !listsWithoutPaging[rt.Method+" "+rt.Path] {
		if r, ok := responses["200"]; ok && isPagedList(t, doc, deref(t, doc, r)) {
			for _, q := range []string{"limit", "after"} {
				if _, ok := params["query "+q]; !ok {
					t.Errorf("list without the %q query parameter", q)
				}
			}
		}
	}
}

// contentIs reports whether a response's JSON content is components/schemas/name.
func contentIs(doc map[string]any, resp map[string]any, name string) bool {
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, _ := media["schema"].(map[string]any)
	return schema["$ref"] == "#/components/schemas/"+name
}

// isPagedList reports whether a response's schema is a {data, has_more, next_cursor} list.
func isPagedList(t *testing.T, doc map[string]any, resp map[string]any) bool {
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media["schema"] == nil {
		return false
	}
	props, _ := deref(t, doc, media["schema"])["properties"].(map[string]any)
	_, ok := props["has_more"]
	return ok
}

func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch c := v.(type) {
		case map[string]any:
			if ref, ok := c["$ref"].(string); ok {
				n++
				if _, err := resolve(doc, ref); err != nil {
					t.Errorf("%s: %v", path, err)
				}
			}
			for k, v := range c {
				walk(path+"/"+k, v)
			}
		case []any:
			for i, v := range c {
				walk(path+"/"+strconv.Itoa(i), v)
			}
		}
	}
	walk("#", doc)
	if n == 0 {
		t.Error("no $ref at all: components are not reused")
	}
	// Every component is used somewhere, so none goes stale unnoticed.
	raw := string(api.OpenAPIDocument())
	for _, kind := range []string{"schemas", "parameters", "responses", "headers"} {
		for name := range obj(t, obj(t, doc, "components"), kind) {
			if !strings.Contains(raw, `"#/components/`+kind+`/`+name+`"`) {
				t.Errorf("components/%s/%s is never referenced", kind, name)
			}
		}
	}
}

// jsonField is one field of a Go type's JSON encoding.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// jsonFields lists the JSON fields of struct type t as encoding/json sees them.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := false
		for _, o := range strings.Split(opts, ",") {
			omit = omit || o == "omitempty" || o == "omitzero"
		}
		out = append(out, jsonField{name: name, omitempty: omit, typ: f.Type})
	}
	return out
}

// schemaTypes returns the JSON types a schema allows, following $ref, anyOf,
// oneOf and allOf; nil means any type.
func schemaTypes(t *testing.T, doc map[string]any, v any) map[string]bool {
	s := deref(t, doc, v)
	out := map[string]bool{}
	switch ty := s["type"].(type) {
	case string:
		out[ty] = true
		return out
	case []any:
		for _, x := range ty {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
		return out
	}
	for _, comb := range []string{"anyOf", "oneOf", "allOf"} {
		list, ok := s[comb].([]any)
		if !ok {
			continue
		}
		for _, sub := range list {
			st := schemaTypes(t, doc, sub)
			if st == nil {
				return nil
			}
			for k := range st {
				out[k] = true
			}
		}
		return out
	}
	return nil
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
	rawType     = reflect.TypeFor[json.RawMessage]()
)

// jsonTypeOf is the JSON type a Go value of t encodes to ("" for any).
func jsonTypeOf(t reflect.Type) string {
	switch t {
	case timeType, decimalType:
		return "string"
	case rawType:
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	schemas := obj(t, obj(t, doc, "components"), "schemas")
	for _, c := range []struct {
		schema string
		value  any
		// extra are properties the API adds to the type's own JSON (not required).
		extra []string
	}{
		{"Customer", voice.Customer{}, []string{"reserved"}}, // getCustomer adds it (customerView)
		{"LedgerEntry", voice.LedgerEntry{}, nil},
		{"Key", voice.Key{}, nil},                                        // "key" (the secret) is the type's own key,omitempty field
		{"Application", voice.Application{}, []string{"webhook_secret"}}, // applicationView adds it on create and rotate
		{"Rate", voice.Rate{}, nil},
		{"Trunk", voice.Trunk{}, nil},
		{"SIPRefusal", voice.SIPRefusal{}, nil},
		{"Number", voice.Number{}, nil},
		{"Call", voice.Call{}, nil},
		{"CallError", voice.CallError{}, nil},
		{"Event", voice.Event{}, nil},
		{"Attempt", voice.Attempt{}, nil},
		{"Recording", voice.Recording{}, nil},
		{"Review", voice.Review{}, nil},
		{"Reviewer", voice.Reviewer{}, nil},
		{"CallReview", voice.CallReview{}, nil},
		{"UsageRow", api.UsageRow{}, nil},
	} {
		t.Run(c.schema, func(t *testing.T) {
			s, ok := schemas[c.schema].(map[string]any)
			if !ok {
				t.Fatalf("components/schemas/%s is missing", c.schema)
			}
			props, _ := s["properties"].(map[string]any)
			fields := jsonFields(reflect.TypeOf(c.value))

			want, wantRequired := map[string]bool{}, map[string]bool{}
			for _, f := range fields {
				want[f.name] = true
				if !f.omitempty {
					wantRequired[f.name] = true
				}
			}
			for _, e := range c.extra {
				want[e] = true
			}
			for name := range want {
				if _, ok := props[name]; !ok {
					t.Errorf("field %q of the Go type is not documented", name)
				}
			}
			for name := range props {
				if !want[name] {
					t.Errorf("documented property %q is not a JSON field of the Go type", name)
				}
			}
			gotRequired := map[string]bool{}
			req, _ := s["required"].([]any)
			for _, r := range req {
				name, _ := r.(string)
				gotRequired[name] = true
			}
			if d := setDiff(wantRequired, gotRequired); d != "" {
				t.Errorf("required differs from the fields that are always present (not omitempty): %s", d)
			}

			for _, f := range fields {
				p, ok := props[f.name]
				if !ok {
					continue
				}
				types := schemaTypes(t, doc, p)
				if types == nil {
					continue
				}
				ft := f.typ
				if ft.Kind() == reflect.Pointer {
					if !types["null"] {
						t.Errorf("%s: the Go field is a pointer (may be null) but the schema does not allow null", f.name)
					}
					ft = ft.Elem()
				} else if types["null"] && ft.Kind() != reflect.Slice && ft.Kind() != reflect.Map && ft != rawType {
					t.Errorf("%s: the schema allows null but the Go field cannot be null", f.name)
				}
				if jt := jsonTypeOf(ft); jt != "" && !types[jt] && !(jt == "integer" && types["number"]) {
					t.Errorf("%s: the Go field encodes as %s but the schema allows %v", f.name, jt, keys(types))
				}
			}
		})
	}
}

func setDiff(want, got map[string]bool) string {
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("missing %q, extra %q", missing, extra)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// stringEnum returns a schema's enum as strings (nulls left out).
func stringEnum(t *testing.T, doc map[string]any, v any) []string {
	t.Helper()
	list, ok := deref(t, doc, v)["enum"].([]any)
	if !ok {
		t.Fatalf("schema has no enum: %v", v)
	}
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestOpenAPIEnumsMatchCode(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	schemas := obj(t, obj(t, doc, "components"), "schemas")
	prop := func(schema, name string) any {
		return obj(t, obj(t, obj(t, schemas, schema), "properties"), name)
	}
	for _, c := range []struct {
		what string
		got  []string
		want []string
	}{
		{"WebhookEventType", stringEnum(t, doc, schemas["WebhookEventType"]), api.WebhookEvents},
		{"Action.action", stringEnum(t, doc, prop("Action", "action")), api.Actions},
		{"Call.status", stringEnum(t, doc, prop("Call", "status")), voice.CallStatuses},
		{"Recording.status", stringEnum(t, doc, prop("Recording", "status")),
			[]string{voice.RecordingInProgress, voice.RecordingCompleted, voice.RecordingFailed, voice.RecordingDeleted}},
		{"Recording.source", stringEnum(t, doc, prop("Recording", "source")),
			[]string{voice.RecordingSourceCall, voice.RecordingSourceDial, voice.RecordingSourceRecordAction}},
		{"Recording.channels", stringEnum(t, doc, prop("Recording", "channels")), []string{voice.ChannelsDual, voice.ChannelsMono}},
		{"Review.verdict", stringEnum(t, doc, prop("Review", "verdict")), voice.Verdicts},
		{"CallReview.verdict", stringEnum(t, doc, prop("CallReview", "verdict")), voice.Verdicts},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s enum = %q, want %q", c.what, c.got, c.want)
		}
	}
}

// errorCodes reads the ECode* constants of internal/voice/error.go.
func errorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../voice/error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "ECode") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					codes = append(codes, s)
				}
			}
		}
	}
	if len(codes) == 0 {
		t.Fatal("found no ECode constants in ../voice/error.go")
	}
	return codes
}

func TestOpenAPIErrorCodes(t *testing.T) {
	t.Parallel()
	doc := openAPIDoc(t)
	schemas := obj(t, obj(t, doc, "components"), "schemas")
	code := obj(t, obj(t, obj(t, schemas, "Error"), "properties"), "code")
	documented := stringEnum(t, doc, code)
	if d := setDiff(toSet(errorCodes(t)), toSet(documented)); d != "" {
		t.Errorf("Error.code enum differs from voice's ECode constants: %s", d)
	}

	// A response that lists its error codes must be used under the status those codes answer with.
	n := 0
	for path, v := range obj(t, doc, "paths") {
		for method, o := range v.(map[string]any) {
			op, ok := o.(map[string]any)
			if !ok || !slices.Contains(httpMethods, method) {
				continue
			}
			for status, r := range op["responses"].(map[string]any) {
				rm := deref(t, doc, r)
				codes, ok := rm["x-minivoice-error-codes"].([]any)
				if !ok {
					continue
				}
				st, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("%s %s: error response under %q", method, path, status)
					continue
				}
				for _, c := range codes {
					c, _ := c.(string)
					n++
					if !slices.Contains(documented, c) {
						t.Errorf("%s %s %d: code %q is not in the Error.code enum", method, path, st, c)
					}
					// 413 is invalid_request with an overridden status.
					if got := api.HTTPStatus(&voice.Error{Code: c}); got != st && st != http.StatusRequestEntityTooLarge {
						t.Errorf("%s %s: code %q documented under %d, but it answers %d", method, path, c, st, got)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Error("no response lists x-minivoice-error-codes")
	}
}

func toSet(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(api.New(api.Config{}))
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL + "/v1/openapi.json") // no key: the document is public
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, api.OpenAPIDocument()) {
		t.Error("served document differs from the embedded openapi.json")
	}
	if !json.Valid(body) {
		t.Error("served document is not JSON")
	}
}
