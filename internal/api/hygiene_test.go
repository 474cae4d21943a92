package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// placeholder stands for the bad text in a generated body; it is replaced
// in the encoded JSON, since encoding/json cannot write invalid UTF-8.
const placeholder = "BAD-TEXT-HERE"

// badTexts are the two kinds of text refused: how each is written in JSON.
var badTexts = map[string]string{"NUL": `a\u0000b`, "invalid UTF-8": "a\xffb"}

// probe is one body with one bad string, and the field path it is at.
type probe struct {
	body any
	path string
}

// probes walks a request schema of the OpenAPI document and returns one
// body per string field, array of strings and map of strings (nested ones
// included), with the placeholder at that one place.
func probes(doc map[string]any, schema any, depth int) []probe {
	s := hygResolve(doc, schema)
	if s == nil || depth > 4 {
		return nil
	}
	for _, alt := range []string{"anyOf", "oneOf", "allOf"} {
		if list, ok := s[alt].([]any); ok {
			var out []probe
			for _, sub := range list {
				out = append(out, probes(doc, sub, depth+1)...)
			}
			return out
		}
	}
	switch hygType(s) {
	case "string":
		return []probe{{body: placeholder}}
	case "array":
		var out []probe
		for _, p := range probes(doc, s["items"], depth+1) {
			path := "[0]" + p.path
			if p.path != "" && !strings.HasPrefix(p.path, "[") {
				path = "[0]." + p.path
			}
			out = append(out, probe{body: []any{p.body}, path: path})
		}
		return out
	case "object":
		var out []probe
		props, _ := s["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, p := range probes(doc, props[n], depth+1) {
				out = append(out, probe{body: map[string]any{n: p.body}, path: hygJoin(n, p.path)})
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			for _, p := range probes(doc, ap, depth+1) {
				out = append(out, probe{body: map[string]any{"key": p.body}, path: hygJoin("key", p.path)})
			}
		}
		return out
	}
	return nil
}

func hygJoin(name, rest string) string {
	if rest == "" || strings.HasPrefix(rest, "[") {
		return name + rest
	}
	return name + "." + rest
}

// hygResolve follows a $ref.
func hygResolve(doc map[string]any, schema any) map[string]any {
	s, _ := schema.(map[string]any)
	for s != nil {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[part]
		}
		s, _ = cur.(map[string]any)
	}
	return nil
}

// hygType returns a schema's single non-null type ("" when none or several).
func hygType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		var out []string
		for _, x := range t {
			if x != "null" {
				out = append(out, fmt.Sprint(x))
			}
		}
		if len(out) == 1 {
			return out[0]
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return ""
}

// noBody are the POST routes that take no JSON body (or, for the import,
// CSV: TestHygieneCSVRows).
var noBody = map[string]bool{
	"POST /v1/applications/{id}/webhook-test": true,
	"POST /v1/calls/{id}/hangup":              true,
	"POST /v1/events/{id}/redeliver":          true,
	"POST /v1/rates/import":                   true,
}

// TestHygieneEveryStringField walks every POST and PATCH route of the API
// and, for each string field its OpenAPI request schema documents (nested
// ones, array items and map values included), sends a body with a NUL
// (\u0000) and one with invalid UTF-8 there: every answer must be 422
// invalid_request naming that field, on SQLite and PostgreSQL. Before the
// check, PostgreSQL answered 500 internal_error to a NUL anywhere.
func TestHygieneEveryStringField(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("hygiene")
		app := b.application(cust)
		call := b.placeCall(b.op, app, "+15551230002")
		ids := map[string]string{
			"/v1/customers/":    cust,
			"/v1/applications/": app,
			"/v1/calls/":        call,
			"/v1/numbers/":      b.numberCreate("+15551230077", cust, nil),
			"/v1/rates/":        b.rateCreate(map[string]any{"prefix": "44", "price_per_minute": "0.01"}).str("id"),
			"/v1/trunks/":       b.ok(201, "POST", "/v1/trunks", b.op, trunkBody()).str("id"),
			"/v1/events/":       b.addEvent("call.initiated", call, app, cust, time.Now()),
		}
		tested := 0
		for _, rt := range b.routes() {
			if rt.Method != "POST" && rt.Method != "PATCH" {
				continue
			}
			name := rt.Method + " " + rt.Path
			if noBody[name] {
				continue
			}
			op, _ := paths[rt.Path].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any)
			rb, _ := op["requestBody"].(map[string]any)
			media, _ := rb["content"].(map[string]any)["application/json"].(map[string]any)
			list := probes(doc, media["schema"], 0)
			if len(list) == 0 {
				t.Errorf("%s: no string field found in its request schema", name)
				continue
			}
			path := rt.Path
			for prefix, id := range ids {
				if strings.HasPrefix(path, prefix) {
					path = strings.Replace(path, "{id}", id, 1)
				}
			}
			for _, p := range list {
				raw, err := json.Marshal(p.body)
				if err != nil {
					t.Fatal(err)
				}
				for kind, text := range badTexts {
					body := bytes.Replace(raw, []byte(placeholder), []byte(text), 1)
					r := b.call(rt.Method, path, b.op, body)
					if r.Status != 422 || r.errCode() != "invalid_request" || r.errParam() != p.path {
						t.Errorf("%s with %s at %s: %d %s param %q, want 422 invalid_request param %q\n%s",
							name, kind, p.path, r.Status, r.errCode(), r.errParam(), p.path, r.Raw)
					}
					tested++
				}
			}
		}
		t.Logf("%d bodies with a bad string refused", tested)
		if tested < 100 {
			t.Errorf("only %d probes: the schema walk found too few string fields", tested)
		}
	})
}

// routes is the API's route table (the same for every server).
func (b *bundle) routes() []api.Route { return (&api.Server{}).Routes() }

// TestHygienePathIDsAndQueries: an id in a path with a NUL or invalid UTF-8
// is 404 not_found on every route that takes one (GET, POST, PATCH,
// DELETE), and such a query parameter is 422 naming it; never 500.
func TestHygienePathIDsAndQueries(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		for _, rt := range b.routes() {
			if !strings.Contains(rt.Path, "{id}") {
				continue
			}
			for _, id := range []string{"call_%00", "%00", "x%FFy", "%C3"} {
				path := strings.Replace(rt.Path, "{id}", id, 1)
				r := b.call(rt.Method, path, b.op, "{}")
				if r.Status != 404 || r.errCode() != "not_found" {
					t.Errorf("%s %s: %d %s, want 404 not_found\n%s", rt.Method, path, r.Status, r.errCode(), r.Raw)
				}
			}
		}
		for _, q := range []string{"/v1/calls?from=%00", "/v1/calls?to=%FF", "/v1/calls?cursor=%00", "/v1/events?type=%00",
			"/v1/rates?prefix=%00", "/v1/numbers?customer_id=%00", "/v1/recordings?call_id=%FF", "/v1/usage?from=%00"} {
			r := b.call("GET", q, b.op, nil)
			u, _ := url.Parse(q)
			var param string
			for k := range u.Query() {
				param = k
			}
			if r.Status != 422 || r.errCode() != "invalid_request" || r.errParam() != param {
				t.Errorf("GET %s: %d %s param %q, want 422 invalid_request param %q\n%s", q, r.Status, r.errCode(), r.errParam(), param, r.Raw)
			}
		}
		// The Idempotency-Key header: HTTP lets bytes above 0x7f through.
		r := b.call("POST", "/v1/customers", b.op, map[string]any{"name": "k"}, "Idempotency-Key: key-\xff")
		b.want(r, 422, "invalid_request")
	})
}

// TestHygieneCSVRows: a rate CSV with a NUL or invalid UTF-8 in any column
// is refused line by line (nothing imported), naming the line and column.
func TestHygieneCSVRows(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cols := []string{"prefix", "price_per_minute", "initial_increment", "subsequent_increment", "connection_fee", "description"}
		good := []string{"44", "0.01", "60", "60", "0", "UK"}
		for i, col := range cols {
			for kind, text := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "a\xffb"} {
				row := append([]string(nil), good...)
				row[i] = text
				csv := "prefix,price_per_minute,initial_increment,subsequent_increment,connection_fee,description\n1,0.01\n" + strings.Join(row, ",") + "\n"
				r := b.importCSV("", csv)
				b.want(r, 422, "invalid_request")
				errs, _ := r.JSON["error"].(map[string]any)["errors"].([]any)
				first, _ := errs[0].(map[string]any)
				if len(errs) != 1 || first["line"] != float64(3) || first["field"] != col {
					t.Errorf("%s in %s: errors %v, want line 3 field %s", kind, col, errs, col)
				}
			}
		}
		if n := len(b.ok(200, "GET", "/v1/rates?limit=100", b.op, nil).data()); n != 0 {
			t.Errorf("%d rates imported from refused files", n)
		}
	})
}

// TestHygieneSharedFunctions: the exported functions the web console calls
// with form values (no JSON body in between) apply the same rule: 422 for a
// NUL or invalid UTF-8 in a stored or searched string, 404 for such an id.
func TestHygieneSharedFunctions(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := context.Background()
		srv := api.New(api.Config{Store: b.store, Auth: auth.New(auth.Config{Store: b.store, OperatorKey: testOperatorKey})})
		op := &auth.Principal{Kind: voice.KeyOperator}
		custID := b.customer("shared")
		cust, err := b.store.Customer(ctx, voice.Scope{}, custID)
		if err != nil {
			t.Fatal(err)
		}
		appID := b.application(custID)
		app, err := b.store.Application(ctx, voice.Scope{}, appID)
		if err != nil {
			t.Fatal(err)
		}
		one := decimal.NewFromInt(1)
		for bad, kind := range map[string]string{"a\x00b": "NUL", "a\xffb": "invalid UTF-8"} {
			_, errCredit := srv.AddCredit(ctx, cust, &one, "credit", bad)
			_, errKey := srv.CreateKey(ctx, voice.KeyCustomer, custID, nil, bad)
			errApp := srv.UpdateApplication(ctx, op, app, &api.ApplicationInput{Name: api.Opt[string]{Set: true, Value: bad}})
			_, errImport := srv.ImportRates(ctx, bad, "", "", []byte("1,0.01\n"))
			_, errList := srv.ListRates(ctx, op, voice.RateFilter{Deck: bad}, voice.Page{Limit: 10})
			_, errLookup := srv.LookupRate(ctx, op, "+15551230001", "", bad)
			for _, c := range []struct {
				what  string
				err   error
				param string
			}{
				{"AddCredit", errCredit, "description"}, {"CreateKey", errKey, "name"}, {"UpdateApplication", errApp, "name"},
				{"ImportRates", errImport, "customer_id"}, {"ListRates", errList, "customer_id"}, {"LookupRate", errLookup, "customer_id"},
			} {
				var ve *voice.Error
				if !errors.As(c.err, &ve) || ve.Code != voice.ECodeInvalidRequest || ve.Param != c.param {
					t.Errorf("%s with %s: %v, want invalid_request param %s", c.what, kind, c.err, c.param)
				}
			}
			_, errReview := api.CreateReview(ctx, b.store, op, "call_"+bad, "ok", "", time.Now())
			_, errRedeliver := api.Redeliver(ctx, b.store, voice.Scope{}, "evt_"+bad)
			if !voice.IsNotFound(errReview) || !voice.IsNotFound(errRedeliver) {
				t.Errorf("ids with %s: review %v, redeliver %v; want not_found", kind, errReview, errRedeliver)
			}
		}
	})
}
