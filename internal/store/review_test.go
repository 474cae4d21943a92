package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

func newReview(id string, c *voice.Call, verdict string, at time.Time) *voice.Review {
	key := "key_rev"
	return &voice.Review{ID: id, CallID: c.ID, CustomerID: c.CustomerID, ApplicationID: c.ApplicationID, Verdict: verdict,
		Note: "note of " + id, Reviewer: voice.Reviewer{KeyID: &key, Kind: voice.KeyCustomer}, CreatedAt: at}
}

func reviewIDs(list []*voice.Review) []string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.ID
	}
	return out
}

func TestReviewsHistoryAndLatestOnCall(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		db := open(t, backend)
		createCustomer(t, db, "cust_a", t0)
		createCustomer(t, db, "cust_b", t0)
		c := createCall(t, db, "call_a1", "cust_a", "app_a1", t0)
		other := createCall(t, db, "call_a2", "cust_a", "app_a1", t0.Add(time.Second))
		createCall(t, db, "call_b1", "cust_b", "app_b1", t0.Add(2*time.Second))

		if c.Review != nil {
			t.Fatalf("a new call has a review: %+v", c.Review)
		}
		first := newReview("rev_1", c, voice.VerdictEscalate, t0.Add(time.Minute))
		op := newReview("rev_2", c, voice.VerdictOK, t0.Add(2*time.Minute))
		op.Reviewer = voice.Reviewer{Kind: voice.KeyOperator} // the operator has no key id
		op.Note = ""
		callID := c.ID
		ev := &voice.Event{ID: "evt_rev2", Event: voice.EventCallReviewed, CreatedAt: op.CreatedAt, CallID: &callID,
			ApplicationID: c.ApplicationID, CustomerID: c.CustomerID, Data: []byte(`{}`), DeliveryStatus: voice.DeliveryNone}
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{CustomerID: "cust_a"}, first); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{ApplicationID: "app_a1"}, op, ev); err != nil {
			t.Fatal(err)
		}
		// An older review written later does not replace the newest one.
		late := newReview("rev_0", c, voice.VerdictNeedsFollowUp, t0.Add(30*time.Second))
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{}, late); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{}, newReview("rev_x", other, voice.VerdictNeedsFollowUp, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}

		// Another tenant's scope, or a missing call: not_found, nothing written.
		for _, tc := range []struct {
			scope voice.Scope
			call  *voice.Call
		}{
			{voice.Scope{CustomerID: "cust_b"}, c},
			{voice.Scope{ApplicationID: "app_other"}, c},
			{voice.Scope{}, &voice.Call{ID: "call_nope", CustomerID: "cust_a", ApplicationID: "app_a1"}},
		} {
			if err := db.CreateReviewWithEvents(ctx, tc.scope, newReview("rev_bad", tc.call, voice.VerdictOK, t0.Add(3*time.Hour))); !voice.IsNotFound(err) {
				t.Errorf("review of %s in scope %+v: %v, want not_found", tc.call.ID, tc.scope, err)
			}
		}
		if err := db.CreateReviewWithEvents(ctx, voice.Scope{}, newReview("rev_1", c, voice.VerdictOK, t0)); voice.ErrorCode(err) != voice.ECodeConflict {
			t.Errorf("duplicate id: %v, want conflict", err)
		}

		got, err := db.Call(ctx, voice.Scope{}, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := &voice.CallReview{Verdict: voice.VerdictOK, ReviewedAt: op.CreatedAt}
		if !reflect.DeepEqual(got.Review, want) {
			t.Errorf("call review = %+v, want %+v", got.Review, want)
		}
		// Writing the call's state (the engine) leaves its review alone.
		got.Status = voice.CallCompleted
		if err := db.UpdateCall(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.Call(ctx, voice.Scope{}, c.ID); !reflect.DeepEqual(again.Review, want) {
			t.Errorf("after UpdateCall the review = %+v, want %+v", again.Review, want)
		}

		// History newest first, scoped, paginated.
		list, err := db.Reviews(ctx, voice.ReviewFilter{Scope: voice.Scope{CustomerID: "cust_a"}, CallID: c.ID}, voice.Page{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if ids := reviewIDs(list.Data); !reflect.DeepEqual(ids, []string{"rev_2", "rev_1"}) || !list.HasMore {
			t.Fatalf("page 1 = %v has_more %v", ids, list.HasMore)
		}
		if !reflect.DeepEqual(list.Data[0], op) || !reflect.DeepEqual(list.Data[1], first) {
			t.Errorf("round trip:\n got %+v %+v\nwant %+v %+v", list.Data[0], list.Data[1], op, first)
		}
		cur, _ := voice.DecodeCursor(list.NextCursor)
		list, err = db.Reviews(ctx, voice.ReviewFilter{CallID: c.ID}, voice.Page{Limit: 2, After: &cur})
		if err != nil {
			t.Fatal(err)
		}
		if ids := reviewIDs(list.Data); !reflect.DeepEqual(ids, []string{"rev_0"}) || list.HasMore {
			t.Fatalf("page 2 = %v has_more %v", ids, list.HasMore)
		}
		if list, _ := db.Reviews(ctx, voice.ReviewFilter{Scope: voice.Scope{CustomerID: "cust_b"}, CallID: c.ID}, voice.Page{}); len(list.Data) != 0 {
			t.Errorf("another tenant sees %v", reviewIDs(list.Data))
		}

		// The event carries the call with its new review.
		evs, err := db.CallEvents(ctx, voice.Scope{}, c.ID)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events %v %v", evs, err)
		}
		full, err := db.DeliveryEvent(ctx, evs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			Review *voice.CallReview `json:"review"`
		}
		if err := json.Unmarshal(full.Call, &snap); err != nil || snap.Review == nil || snap.Review.Verdict != voice.VerdictOK {
			t.Errorf("event call snapshot review = %+v (%v), want ok", snap.Review, err)
		}

		// Filters.
		for _, tc := range []struct {
			f    voice.CallFilter
			want []string
		}{
			{voice.CallFilter{Reviewed: boolPtr(true)}, []string{"call_a2", "call_a1"}},
			{voice.CallFilter{Reviewed: boolPtr(false)}, []string{"call_b1"}},
			{voice.CallFilter{Verdict: voice.VerdictOK}, []string{"call_a1"}},
			{voice.CallFilter{Verdict: voice.VerdictNeedsFollowUp}, []string{"call_a2"}},
			{voice.CallFilter{Verdict: voice.VerdictEscalate}, []string{}},
			{voice.CallFilter{Scope: voice.Scope{CustomerID: "cust_b"}, Reviewed: boolPtr(true)}, []string{}},
		} {
			list, err := db.Calls(ctx, tc.f, voice.Page{})
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, c := range list.Data {
				ids = append(ids, c.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("calls %+v = %v, want %v", tc.f, ids, tc.want)
			}
		}
	})
}

func boolPtr(v bool) *bool { return &v }
