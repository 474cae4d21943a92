package api_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

// storedCall reads a call straight from the store.
func (b *bundle) storedCall(id string) *voice.Call {
	b.t.Helper()
	c, err := b.store.Call(context.Background(), voice.Scope{}, id)
	if err != nil {
		b.t.Fatalf("read call %s: %v", id, err)
	}
	return c
}

// editCall changes a call in the store.
func (b *bundle) editCall(id string, edit func(c *voice.Call)) {
	b.t.Helper()
	c := b.storedCall(id)
	edit(c)
	if err := b.store.UpdateCall(context.Background(), c); err != nil {
		b.t.Fatalf("update call %s: %v", id, err)
	}
}

// cloneCall inserts a copy of call id, edited, with a new id, and returns the id.
// It reaches fields the API cannot set (direction, created_at).
func (b *bundle) cloneCall(id string, edit func(c *voice.Call)) string {
	b.t.Helper()
	c := b.storedCall(id)
	c.ID = voice.NewID(voice.PrefixCall, time.Now())
	edit(c)
	if err := b.store.CreateCall(context.Background(), c); err != nil {
		b.t.Fatalf("create call: %v", err)
	}
	return c.ID
}

// listIDs returns the ids of a list answer, in order.
func listIDs(r *response) []string {
	var out []string
	for _, it := range r.data() {
		s, _ := it["id"].(string)
		out = append(out, s)
	}
	return out
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}

func TestListLimitAndCursorValidation(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		b.placeCall(b.op, b.application(cust), "+15551230002")
		badCursors := []string{"!!!", "bm90LWpzb24", base64.RawURLEncoding.EncodeToString([]byte(`{}`)),
			base64.RawURLEncoding.EncodeToString([]byte(`{"t":"x","i":"call_1"}`)), base64.StdEncoding.EncodeToString([]byte(`{"t":1,"i":"c"}`)) + "=="}
		for _, path := range []string{"/v1/calls", "/v1/rates", "/v1/trunks", "/v1/numbers", "/v1/events", "/v1/customers",
			"/v1/applications", "/v1/customers/" + cust + "/ledger", "/v1/customers/" + cust + "/keys"} {
			for _, limit := range []string{"0", "201", "x", "-1", "1.5", "%20"} {
				r := b.want(b.call("GET", path+"?limit="+limit, b.op, nil), 422, "invalid_request")
				if r.errParam() != "limit" {
					t.Errorf("%s?limit=%s: param %q", path, limit, r.errParam())
				}
			}
			for _, after := range badCursors {
				r := b.want(b.call("GET", path+"?after="+url.QueryEscape(after), b.op, nil), 422, "invalid_request")
				if r.errParam() != "after" {
					t.Errorf("%s?after=%s: param %q", path, after, r.errParam())
				}
			}
			for _, limit := range []string{"1", "200"} {
				r := b.ok(200, "GET", path+"?limit="+limit, b.op, nil)
				if _, ok := r.JSON["data"].([]any); !ok || r.JSON["has_more"] == nil {
					t.Errorf("%s?limit=%s: not a list: %s", path, limit, r.Raw)
				}
				if _, ok := r.JSON["next_cursor"]; !ok {
					t.Errorf("%s: no next_cursor field: %s", path, r.Raw)
				}
			}
		}
		// An empty list is [] (not null), with no next page.
		r := b.ok(200, "GET", "/v1/trunks", b.op, nil)
		if !strings.Contains(string(r.Raw), `"data":[]`) || r.JSON["has_more"] != false || r.str("next_cursor") != "" {
			t.Errorf("empty list: %s", r.Raw)
		}
	})
}

func TestCallListPaginationWithInserts(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		var originals []string
		for range 7 {
			originals = append(originals, b.placeCall(key, app, "+15551230002"))
		}
		// The full list, newest first, ordered by (created_at, id) descending.
		full := b.ok(200, "GET", "/v1/calls", key, nil)
		type ordKey struct{ created, id string }
		var keys []ordKey
		for _, it := range full.data() {
			keys = append(keys, ordKey{it["created_at"].(string), it["id"].(string)})
		}
		for i := 1; i < len(keys); i++ {
			prev, cur := keys[i-1], keys[i]
			pt, _ := time.Parse(time.RFC3339Nano, prev.created)
			ct, _ := time.Parse(time.RFC3339Nano, cur.created)
			if ct.After(pt) || (ct.Equal(pt) && cur.id > prev.id) {
				t.Fatalf("list not newest first at %d: %v then %v", i, prev, cur)
			}
		}
		order := listIDs(full)
		if len(order) != 7 || !sameSet(order, originals) {
			t.Fatalf("full list %v, want the 7 originals", order)
		}
		// The newest call created (the last) sorts first unless it shares a millisecond.
		if last := b.storedCall(originals[6]); !b.storedCall(order[0]).CreatedAt.Equal(last.CreatedAt) {
			t.Errorf("first listed call %s is not the newest", order[0])
		}

		// Page through with limit 3, placing calls between the fetches.
		isOriginal := map[string]bool{}
		for _, id := range originals {
			isOriginal[id] = true
		}
		inserted := map[string]bool{}
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("too many pages")
			}
			r := b.ok(200, "GET", "/v1/calls?limit=3"+after, key, nil)
			ids := listIDs(r)
			more := r.JSON["has_more"] == true
			if more && (len(ids) != 3 || r.str("next_cursor") == "") {
				t.Fatalf("page %d: has_more with %d items, cursor %q", page, len(ids), r.str("next_cursor"))
			}
			if !more && r.str("next_cursor") != "" {
				t.Fatalf("page %d: next_cursor without has_more: %s", page, r.Raw)
			}
			for _, id := range ids {
				switch {
				case isOriginal[id]:
					got = append(got, id)
				case inserted[id]:
					// A call placed in the same millisecond as the cursor may
					// sort after it; it is new, so it may appear, once.
					delete(inserted, id)
				default:
					t.Fatalf("page %d: unexpected or repeated call %s", page, id)
				}
			}
			if !more {
				break
			}
			after = "&after=" + r.str("next_cursor")
			for range 2 {
				inserted[b.placeCall(key, app, "+15551230003")] = true
			}
		}
		if strings.Join(got, ",") != strings.Join(order, ",") {
			t.Fatalf("paging with inserts gave\n%v\nwant\n%v", got, order)
		}
		// The new calls come first on a fresh first page.
		r := b.ok(200, "GET", "/v1/calls?limit=3", key, nil)
		if first := listIDs(r)[0]; isOriginal[first] {
			t.Errorf("fresh first page starts with an old call %s", first)
		}
		// A page exactly as long as what is left has no next page.
		other := b.customer("other")
		otherApp := b.application(other)
		for range 4 {
			b.placeCall(b.op, otherApp, "+15551230004")
		}
		r = b.ok(200, "GET", "/v1/calls?limit=4&customer_id="+other, b.op, nil)
		if len(r.data()) != 4 || r.JSON["has_more"] != false || r.str("next_cursor") != "" {
			t.Errorf("exact page: %s", r.Raw)
		}
		r = b.ok(200, "GET", "/v1/calls?limit=2&customer_id="+other, b.op, nil)
		r = b.ok(200, "GET", "/v1/calls?limit=2&customer_id="+other+"&after="+r.str("next_cursor"), b.op, nil)
		if len(r.data()) != 2 || r.JSON["has_more"] != false {
			t.Errorf("last exact page: %s", r.Raw)
		}
		// Default limit is 50.
		for range 45 {
			b.placeCall(b.op, otherApp, "+15551230004")
		}
		r = b.ok(200, "GET", "/v1/calls?customer_id="+other, b.op, nil)
		if len(r.data()) != 49 || r.JSON["has_more"] != false {
			t.Errorf("49 calls: got %d, has_more %v", len(r.data()), r.JSON["has_more"])
		}
		b.placeCall(b.op, otherApp, "+15551230004")
		b.placeCall(b.op, otherApp, "+15551230004")
		r = b.ok(200, "GET", "/v1/calls?customer_id="+other, b.op, nil)
		if len(r.data()) != 50 || r.JSON["has_more"] != true {
			t.Errorf("51 calls, default page: got %d, has_more %v", len(r.data()), r.JSON["has_more"])
		}
	})
}

func TestCallListFilters(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a, c := b.customer("a"), b.customer("c")
		a1, a2, c1 := b.application(a), b.application(a), b.application(c)
		ak, ck, a1k := b.customerKey(a), b.customerKey(c), b.applicationKey(a1)
		call := map[string]string{
			"a1x": b.placeCall(ak, a1, "+15551230002"),
			"a1y": b.placeCall(ak, a1, "+15551230002"),
			"a2":  b.placeCall(ak, a2, "+15551230003"),
			"c1":  b.placeCall(ck, c1, "+15551230002"),
		}
		b.editCall(call["a1y"], func(x *voice.Call) {
			x.Status = voice.CallCompleted
			now := time.Now().UTC()
			x.EndedAt = &now
		})
		call["a1in"] = b.cloneCall(call["a1x"], func(x *voice.Call) {
			x.Direction = voice.DirectionInbound
			x.From, x.To = "+447700900123", "+15551230099"
		})
		day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
		for d := 1; d <= 3; d++ {
			call["jan"+string(rune('0'+d))] = b.cloneCall(call["a2"], func(x *voice.Call) {
				x.CreatedAt = day(d)
				x.Status = voice.CallFailed
			})
		}
		name := map[string]string{}
		for n, id := range call {
			name[id] = n
		}
		names := func(path, key string) string {
			t.Helper()
			var out []string
			for _, id := range listIDs(b.ok(200, "GET", path, key, nil)) {
				out = append(out, name[id])
			}
			sort.Strings(out)
			return strings.Join(out, ",")
		}
		esc := url.QueryEscape
		for _, tc := range []struct {
			path, key, want string
		}{
			{"/v1/calls", b.op, "a1in,a1x,a1y,a2,c1,jan1,jan2,jan3"},
			{"/v1/calls", ak, "a1in,a1x,a1y,a2,jan1,jan2,jan3"},
			{"/v1/calls", ck, "c1"},
			{"/v1/calls", a1k, "a1in,a1x,a1y"},
			{"/v1/calls?status=completed", b.op, "a1y"},
			{"/v1/calls?status=queued", ak, "a1in,a1x,a2"},
			{"/v1/calls?status=failed", ak, "jan1,jan2,jan3"},
			{"/v1/calls?status=in-progress", ak, ""},
			{"/v1/calls?direction=inbound", b.op, "a1in"},
			{"/v1/calls?direction=outbound", a1k, "a1x,a1y"},
			{"/v1/calls?application_id=" + a2, b.op, "a2,jan1,jan2,jan3"},
			{"/v1/calls?application_id=" + a1, ak, "a1in,a1x,a1y"},
			{"/v1/calls?application_id=" + a1, a1k, "a1in,a1x,a1y"},
			{"/v1/calls?customer_id=" + c, b.op, "c1"},
			{"/v1/calls?customer_id=" + a, ak, "a1in,a1x,a1y,a2,jan1,jan2,jan3"},
			{"/v1/calls?customer_id=" + a, a1k, "a1in,a1x,a1y"},
			{"/v1/calls?to=" + esc("+15551230002"), b.op, "a1x,a1y,c1"},
			{"/v1/calls?to=15551230002", ak, "a1x,a1y"},
			{"/v1/calls?to=+15551230002", ak, "a1x,a1y"}, // an unescaped "+" arrives as a space
			{"/v1/calls?from=" + esc("+447700900123"), b.op, "a1in"},
			{"/v1/calls?from=" + esc("+15551230001") + "&to=" + esc("+15551230003"), b.op, "a2,jan1,jan2,jan3"},
			{"/v1/calls?created_before=2025-01-02", b.op, "jan1"},
			{"/v1/calls?created_after=2025-01-02&created_before=2025-01-03", b.op, "jan2"},
			{"/v1/calls?created_after=" + esc("2025-01-02T00:00:00Z") + "&created_before=" + esc("2025-01-03T00:00:00.001Z"), b.op, "jan2,jan3"},
			{"/v1/calls?created_after=" + esc("2025-01-02T01:00:00+01:00") + "&created_before=2025-01-04", b.op, "jan2,jan3"},
			{"/v1/calls?created_after=2025-01-02&status=failed&application_id=" + a2, ak, "jan2,jan3"},
			{"/v1/calls?created_before=2025-01-01", b.op, ""},
		} {
			if got := names(tc.path, tc.key); got != tc.want {
				t.Errorf("GET %s = %q, want %q", tc.path, got, tc.want)
			}
		}
		for _, tc := range []struct {
			path, key string
			status    int
			param     string
		}{
			{"/v1/calls?status=done", b.op, 422, "status"},
			{"/v1/calls?status=COMPLETED", b.op, 422, "status"},
			{"/v1/calls?direction=both", b.op, 422, "direction"},
			{"/v1/calls?from=abc", b.op, 422, "from"},
			{"/v1/calls?to=" + esc("+0123"), b.op, 422, "to"},
			{"/v1/calls?created_after=yesterday", b.op, 422, "created_after"},
			{"/v1/calls?created_before=2025-13-01", b.op, 422, "created_before"},
			{"/v1/calls?created_before=2025-01-02T00:00:00", b.op, 422, "created_before"},
			// Naming another tenant's objects is a 404, like reading them.
			{"/v1/calls?customer_id=" + c, ak, 404, ""},
			{"/v1/calls?application_id=" + c1, ak, 404, ""},
			{"/v1/calls?application_id=" + a2, a1k, 404, ""},
			{"/v1/calls?customer_id=" + c, a1k, 404, ""},
			{"/v1/calls?customer_id=cust_nope", b.op, 404, ""},
			{"/v1/calls?application_id=app_nope", b.op, 404, ""},
		} {
			r := b.call("GET", tc.path, tc.key, nil)
			code := "invalid_request"
			if tc.status == 404 {
				code = "not_found"
			}
			if r.Status != tc.status || r.errCode() != code || r.errParam() != tc.param {
				t.Errorf("GET %s: %d %s %s, want %d %s %s", tc.path, r.Status, r.errCode(), r.errParam(), tc.status, code, tc.param)
			}
		}
		// An application key reads only its application's calls.
		b.ok(200, "GET", "/v1/calls/"+call["a1x"], a1k, nil)
		b.want(b.call("GET", "/v1/calls/"+call["a2"], a1k, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/calls/"+call["c1"], ak, nil), 404, "not_found")
	})
}
