package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

func refusal(i int, at time.Time, source string) *voice.SIPRefusal {
	return &voice.SIPRefusal{ID: fmt.Sprintf("sref_%04d", i), CreatedAt: at, Source: source, Transport: "udp",
		From: "15550001111", To: fmt.Sprintf("1556%07d", i), SIPCode: 404, Reason: "Not Found",
		Why: "no customer has the number", CallID: fmt.Sprintf("call-%d@127.0.0.1", i)}
}

// TestSIPRefusalsBounded adds far more refusals than the bound, several in
// one millisecond, and checks the newest keep survive and nothing else.
func TestSIPRefusalsBounded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		const keep, n = 10, 57
		for i := range n {
			// Three refusals per millisecond: the trim must order by id
			// within a millisecond.
			at := t0.Add(time.Duration(i/3) * time.Millisecond)
			if err := db.AddSIPRefusal(ctx, refusal(i, at, "127.0.0.1:5070"), keep); err != nil {
				t.Fatalf("add %d: %v", i, err)
			}
			list, err := db.SIPRefusals(ctx, voice.SIPRefusalFilter{}, voice.Page{Limit: voice.MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(i+1, keep); len(list.Data) != want {
				t.Fatalf("after %d inserts %d rows, want %d", i+1, len(list.Data), want)
			}
		}
		list, err := db.SIPRefusals(ctx, voice.SIPRefusalFilter{}, voice.Page{Limit: voice.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range list.Data {
			if want := fmt.Sprintf("sref_%04d", n-1-j); r.ID != want {
				t.Errorf("row %d is %s, want %s (the newest %d, newest first)", j, r.ID, want, keep)
			}
		}
		got := list.Data[0]
		want := refusal(n-1, t0.Add(time.Duration((n-1)/3)*time.Millisecond), "127.0.0.1:5070")
		if *got != *want {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})
}

// TestSIPRefusalsFilters checks ?since and ?source (an address, or an
// address and port) and keyset pagination.
func TestSIPRefusalsFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		sources := []string{"127.0.0.1:5070", "127.0.0.2:5060", "127.0.0.1:5080", "[::1]:5060"}
		for i := range 12 {
			if err := db.AddSIPRefusal(ctx, refusal(i, t0.Add(time.Duration(i)*time.Second), sources[i%4]), 100); err != nil {
				t.Fatal(err)
			}
		}
		count := func(f voice.SIPRefusalFilter) int {
			t.Helper()
			l, err := db.SIPRefusals(ctx, f, voice.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(l.Data)
		}
		since := t0.Add(6 * time.Second)
		for name, c := range map[string]struct {
			f    voice.SIPRefusalFilter
			want int
		}{
			"all":           {voice.SIPRefusalFilter{}, 12},
			"since":         {voice.SIPRefusalFilter{Since: &since}, 6},
			"ip":            {voice.SIPRefusalFilter{SourceIP: "127.0.0.1"}, 6},
			"ip and port":   {voice.SIPRefusalFilter{Source: "127.0.0.1:5080"}, 3},
			"ipv6":          {voice.SIPRefusalFilter{SourceIP: "::1"}, 3},
			"ip and since":  {voice.SIPRefusalFilter{SourceIP: "127.0.0.2", Since: &since}, 1},
			"unknown ip":    {voice.SIPRefusalFilter{SourceIP: "192.0.2.1"}, 0},
			"port mismatch": {voice.SIPRefusalFilter{Source: "127.0.0.1:1"}, 0},
		} {
			if got := count(c.f); got != c.want {
				t.Errorf("%s: %d refusals, want %d", name, got, c.want)
			}
		}
		var seen []string
		p := voice.Page{Limit: 5}
		for {
			l, err := db.SIPRefusals(ctx, voice.SIPRefusalFilter{}, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range l.Data {
				seen = append(seen, r.ID)
			}
			if !l.HasMore {
				break
			}
			c, err := voice.DecodeCursor(l.NextCursor)
			if err != nil {
				t.Fatal(err)
			}
			p.After = &c
		}
		if len(seen) != 12 || seen[0] != "sref_0011" || seen[11] != "sref_0000" {
			t.Errorf("pages gave %v", seen)
		}
	})
}
