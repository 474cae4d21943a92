package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/textcheck"
	"github.com/minivoice/minivoice/internal/voice"
)

// decodeTargets are the request structs the API decodes bodies into.
func decodeTargets() map[string]func() any {
	return map[string]func() any{
		"call":        func() any { return &callInput{} },
		"customer":    func() any { return &customerInput{} },
		"application": func() any { return &ApplicationInput{} },
		"trunk":       func() any { return &trunkInput{} },
		"rate":        func() any { return &rateInput{} },
		"number":      func() any { return &NumberInput{} },
	}
}

// checkDecodeError asserts err is nil or a *voice.Error with a client code.
func checkDecodeError(t *testing.T, what string, body []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	ve, ok := err.(*voice.Error)
	if !ok {
		t.Fatalf("%s: decodeJSON(%q) returned %T %v, want *voice.Error", what, body, err, err)
	}
	switch ve.Code {
	case voice.ECodeInvalidJSON:
	case voice.ECodeInvalidRequest:
		// Only an unknown field or text the database cannot store (NUL,
		// invalid UTF-8) is invalid_request; its param names the field
		// (which may be "" for a body like {"":1}).
		if strings.HasSuffix(ve.Message, textcheck.ReasonNUL) || strings.HasSuffix(ve.Message, textcheck.ReasonUTF8) {
			break
		}
		if !strings.HasSuffix(ve.Message, "unknown field") {
			t.Fatalf("%s: decodeJSON(%q): invalid_request that is not an unknown field: %v", what, body, ve)
		}
		if ve.Param == "" && !strings.Contains(string(body), `""`) {
			t.Fatalf("%s: decodeJSON(%q): invalid_request without a param: %v", what, body, ve)
		}
	default:
		t.Fatalf("%s: decodeJSON(%q) code %q, want invalid_json or invalid_request", what, body, ve.Code)
	}
	if ve.Message == "" {
		t.Fatalf("%s: decodeJSON(%q): empty message", what, body)
	}
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		code  string // "" for success
		param string
	}{
		{"empty body", ``, "", ""},
		{"blank body", " \n\t ", "", ""},
		{"empty object", `{}`, "", ""},
		{"valid", `{"name":"acme","currency":"EUR","credit_limit":"10.5","blocked_prefixes":["1900"]}`, "", ""},
		{"null fields", `{"name":null,"daily_spend_limit":null}`, "", ""},
		{"trailing whitespace", "{\"name\":\"a\"}\n  ", "", ""},
		{"unknown field", `{"name":"a","nmae":"b"}`, voice.ECodeInvalidRequest, "nmae"},
		{"unknown field with quotes", `{"we\"ird":1}`, voice.ECodeInvalidRequest, `we"ird`},
		{"type error string", `{"name":5}`, voice.ECodeInvalidJSON, "name"},
		{"type error int", `{"max_cps":"fast"}`, voice.ECodeInvalidJSON, "max_cps"},
		{"type error array", `{"blocked_prefixes":"1900"}`, voice.ECodeInvalidJSON, "blocked_prefixes"},
		{"bad decimal", `{"credit_limit":"lots"}`, voice.ECodeInvalidJSON, ""},
		{"not an object", `[1,2]`, voice.ECodeInvalidJSON, ""},
		{"a string", `"name"`, voice.ECodeInvalidJSON, ""},
		{"syntax error", `{"name":}`, voice.ECodeInvalidJSON, ""},
		{"truncated", `{"name":"a"`, voice.ECodeInvalidJSON, ""},
		{"trailing object", `{"name":"a"}{"name":"b"}`, voice.ECodeInvalidJSON, ""},
		{"trailing garbage", `{"name":"a"} x`, voice.ECodeInvalidJSON, ""},
		{"trailing comma", `{"name":"a"},`, voice.ECodeInvalidJSON, ""},
		{"trailing close", `{"name":"a"}}`, voice.ECodeInvalidJSON, ""},
		{"null body", `null`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in customerInput
			err := decodeJSON([]byte(tc.body), &in)
			checkDecodeError(t, tc.name, []byte(tc.body), err)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("decodeJSON(%q): %v", tc.body, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("decodeJSON(%q) accepted, want %s", tc.body, tc.code)
			}
			ve := err.(*voice.Error)
			if ve.Code != tc.code {
				t.Fatalf("decodeJSON(%q) code %q, want %q (%v)", tc.body, ve.Code, tc.code, ve)
			}
			if tc.param != "" && ve.Param != tc.param {
				t.Fatalf("decodeJSON(%q) param %q, want %q", tc.body, ve.Param, tc.param)
			}
		})
	}
}

func TestDecodeJSONOptFields(t *testing.T) {
	var in customerInput
	if err := decodeJSON([]byte(`{"name":"x","daily_spend_limit":null}`), &in); err != nil {
		t.Fatal(err)
	}
	if !in.Name.Set || in.Name.Null || in.Name.Value != "x" {
		t.Errorf("name = %+v", in.Name)
	}
	if !in.DailySpendLimit.Set || !in.DailySpendLimit.Null {
		t.Errorf("daily_spend_limit = %+v, want set and null", in.DailySpendLimit)
	}
	if in.Status.Set {
		t.Errorf("status = %+v, want absent", in.Status)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"to":"+15551234567","from":"+15551230000","actions":[{"action":"say","text":"hi"}]}`,
		`{"name":"a","credit_limit":"1.5","blocked_prefixes":["1"]}`, `{"port":5060,"allowed_cidrs":["10.0.0.0/8"]}`,
		`{"price_per_minute":"0.01","prefix":"1"}`, `{"number":"+15551234567","application_id":null}`,
		`{"name":1}`, `{"x":1}`, `{"a":1}{}`, `{"timeout":1e400}`, `{"price_per_minute":1e99999999}`,
		`{"variables":{"a":1}}`, `{"record":"yes"}`, "{\"name\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, mk := range decodeTargets() {
			checkDecodeError(t, name, body, decodeJSON(body, mk()))
		}
	})
}

func FuzzCheckActions(f *testing.F) {
	for _, s := range []string{`[{"action":"say","text":"hi"}]`, `{"actions":[{"action":"hangup"}]}`, `[]`, `{}`, `null`,
		`{"actions":null}`, `[{"action":"fly"}]`, `[{"action":1}]`, `[1]`, `"say"`, ` [ {"action":"dial"} ] `,
		`{"actions":{"actions":[]}}`, `[{"action":"say"},{}]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := checkActions(json.RawMessage(raw), nil)
		if err != nil {
			ve, ok := err.(*voice.Error)
			if !ok || ve.Code != voice.ECodeInvalidRequest || !strings.HasPrefix(ve.Param, "actions") {
				t.Fatalf("checkActions(%q) error %T %v, want invalid_request on actions or a field of it", raw, err, err)
			}
			return
		}
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(out, &list); err != nil {
			t.Fatalf("checkActions(%q) accepted and returned %q, not an array of objects: %v", raw, out, err)
		}
		if len(list) < 1 || len(list) > 100 {
			t.Fatalf("checkActions(%q) accepted %d actions", raw, len(list))
		}
		for i, a := range list {
			var name string
			if err := json.Unmarshal(a["action"], &name); err != nil || !slices.Contains(Actions, name) {
				t.Fatalf("checkActions(%q) accepted action %d = %s", raw, i, a["action"])
			}
		}
	})
}

func FuzzParseRateCSV(f *testing.F) {
	for _, s := range []string{
		"prefix,price_per_minute\n1,0.01\n44,0.02\n",
		"1,0.01,1,1,0.5,USA\n",
		"PREFIX , price\n+1555,0.1\n",
		"1,0.01\n1,0.02\n",
		"a\"b\n",
		"\"unterminated\n",
		"1\n",
		"1,2,3,4,5,6,7\n",
		"1,-1\n",
		"1,0.0000001\n",
		"1,1e99\n",
		"1,0.01,0\n",
		"x,0.01\n",
		"1234567890123456,0.01\n",
		"\n\n1,0.01\r\n",
		"1,0.01,60,60,,\"multi\nline\"\n",
		"",
	} {
		f.Add([]byte(s))
	}
	s := &Server{now: time.Now}
	cust := "cust_1"
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []*string{nil, &cust} {
			rates, errs := s.parseRateCSV(b, c, voice.DirectionOutbound, "EUR")
			for _, e := range errs {
				if e.Line < 1 {
					t.Fatalf("parseRateCSV(%q): error with line %d: %+v", b, e.Line, e)
				}
				if e.Message == "" {
					t.Fatalf("parseRateCSV(%q): error without a message: %+v", b, e)
				}
			}
			seen := map[string]bool{}
			for _, r := range rates {
				if seen[r.Prefix] {
					t.Fatalf("parseRateCSV(%q): prefix %q twice", b, r.Prefix)
				}
				seen[r.Prefix] = true
				if strings.Trim(r.Prefix, "0123456789") != "" || len(r.Prefix) > 15 {
					t.Fatalf("parseRateCSV(%q): bad prefix %q", b, r.Prefix)
				}
				if r.PricePerMinute.IsNegative() || r.ConnectionFee.IsNegative() {
					t.Fatalf("parseRateCSV(%q): negative price %+v", b, r)
				}
				if r.CustomerID != c || r.Direction != voice.DirectionOutbound || r.Currency != "EUR" || r.Status != voice.RateActive {
					t.Fatalf("parseRateCSV(%q): rate %+v does not carry the deck's fields", b, r)
				}
			}
		}
	})
}
