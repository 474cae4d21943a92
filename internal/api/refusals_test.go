package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// TestSIPRefusals checks GET /v1/sip/refusals: operator only, the bound the
// store keeps, pagination, the filters and the dropped count.
func TestSIPRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		db := storetest.Open(t, backend, nil)
		srv := api.New(api.Config{Store: db, Auth: auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
			AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RefusalsDropped: func() int64 { return 7 }})
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		b := &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}

		// A flood far past the bound: the log keeps the newest keep.
		const keep, n = 25, 60
		base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		for i := range n {
			src := "127.0.0.1:5070"
			if i%2 == 1 {
				src = "127.0.0.2:5060"
			}
			r := &voice.SIPRefusal{ID: voice.NewID(voice.PrefixSIPRefusal, base), CreatedAt: base.Add(time.Duration(i) * time.Second),
				Source: src, Transport: "udp", From: "15550001111", To: fmt.Sprintf("1556000%04d", i), SIPCode: 404,
				Reason: "Not Found", Why: "no customer has the number", CallID: fmt.Sprintf("c%d@127.0.0.1", i)}
			if err := db.AddSIPRefusal(context.Background(), r, keep); err != nil {
				t.Fatal(err)
			}
		}
		var all []map[string]any
		path := "/v1/sip/refusals?limit=10"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			r := b.ok(200, "GET", path, b.op, nil)
			if d, _ := r.JSON["dropped"].(float64); d != 7 {
				t.Errorf("dropped = %v, want 7", r.JSON["dropped"])
			}
			all = append(all, r.data()...)
			if r.JSON["has_more"] != true {
				break
			}
			path = "/v1/sip/refusals?limit=10&after=" + url.QueryEscape(r.str("next_cursor"))
		}
		if len(all) != keep {
			t.Fatalf("%d refusals listed, want the bound %d", len(all), keep)
		}
		if all[0]["to"] != fmt.Sprintf("1556000%04d", n-1) || all[keep-1]["to"] != fmt.Sprintf("1556000%04d", n-keep) {
			t.Errorf("listed %v .. %v, want the newest %d newest first", all[0]["to"], all[keep-1]["to"], keep)
		}
		for _, f := range []string{"id", "created_at", "source", "transport", "from", "to", "sip_code", "reason", "why", "call_id"} {
			if _, ok := all[0][f]; !ok {
				t.Errorf("refusal lacks %s: %v", f, all[0])
			}
		}

		count := func(query string) int {
			t.Helper()
			return len(b.ok(200, "GET", "/v1/sip/refusals?limit=200&"+query, b.op, nil).data())
		}
		since := base.Add(time.Duration(n-10) * time.Second).Format(time.RFC3339)
		for query, want := range map[string]int{
			"source=127.0.0.2":                                      13, // odd i among the newest 25 (35..59)
			"source=127.0.0.1%3A5070":                               12,
			"source=127.0.0.1%3A9":                                  0,
			"since=" + url.QueryEscape(since):                       10,
			"since=" + url.QueryEscape(since) + "&source=127.0.0.1": 5,
		} {
			if got := count(query); got != want {
				t.Errorf("?%s: %d refusals, want %d", query, got, want)
			}
		}
		b.want(b.call("GET", "/v1/sip/refusals?source=example.com", b.op, nil), 422, "invalid_request")
		b.want(b.call("GET", "/v1/sip/refusals?since=yesterday", b.op, nil), 422, "invalid_request")

		// Customer and application keys get what every operator-only route
		// gives them.
		cust := b.customer("acme")
		app := b.application(cust)
		b.want(b.call("GET", "/v1/sip/refusals", b.customerKey(cust), nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/sip/refusals", b.applicationKey(app), nil), 403, "forbidden")
		b.want(b.call("GET", "/v1/sip/refusals", "", nil), 401, "unauthorized")
	})
}
