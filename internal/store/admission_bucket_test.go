package store

// The max_cps token bucket's arithmetic (billing.md, max_cps), without a
// database: admission_test.go runs it through Reserve and TakeTrunkChannel.

import (
	"testing"
	"time"
)

var bucketT0 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func TestBucketTake(t *testing.T) {
	type step struct {
		at    time.Duration // since bucketT0
		ok    bool
		retry time.Duration
	}
	tests := []struct {
		name   string
		maxCPS int
		steps  []step
	}{
		{"burst of max_cps then one per 1/max_cps", 5, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, 200 * time.Millisecond},
			{150 * time.Millisecond, false, 50 * time.Millisecond},
			{200 * time.Millisecond, true, 0},
			{200 * time.Millisecond, false, 200 * time.Millisecond},
			{400 * time.Millisecond, true, 0},
		}},
		{"refill caps at the burst", 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, 500 * time.Millisecond},
			{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, 500 * time.Millisecond},
		}},
		{"one per second", 1, []step{
			{0, true, 0}, {999 * time.Millisecond, false, time.Millisecond}, {time.Second, true, 0},
		}},
		{"clock step back refills nothing", 1, []step{
			{10 * time.Second, true, 0}, {5 * time.Second, false, time.Second}, {11 * time.Second, true, 0},
		}},
		{"zero admits nothing", 0, []step{{0, false, time.Second}}},
		{"negative admits nothing", -1, []step{{0, false, time.Second}}},
		{"high rate", 10000, []step{{0, true, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bucket
			for j, s := range tc.steps {
				ok, retry := b.take(tc.maxCPS, bucketT0.Add(s.at))
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d at %v: take = %v, %v; want %v, %v", j, s.at, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestBucketLoweredLimit(t *testing.T) {
	var b bucket
	for range 10 {
		b.take(10, bucketT0) // the whole burst of 10
	}
	// Lowered to 2 after a second idle: the bucket holds 2, not 10.
	n := 0
	for range 5 {
		if ok, _ := b.take(2, bucketT0.Add(time.Second)); ok {
			n++
		}
	}
	if n != 2 {
		t.Errorf("after lowering max_cps to 2, %d calls admitted at once", n)
	}
}

// TestBucketRate tries every millisecond for 10 s of fake time at max_cps
// 50: the admitted count is the burst plus the refill, so a refusal, which
// writes nothing, loses no refill.
func TestBucketRate(t *testing.T) {
	var b bucket
	n := 0
	for ms := range 10000 {
		if ok, _ := b.take(50, bucketT0.Add(time.Duration(ms)*time.Millisecond)); ok {
			n++
		}
	}
	// 50 at once, then one per 20 ms for 9.999 s: 499 more.
	if n != 50+499 {
		t.Errorf("admitted %d, want %d", n, 50+499)
	}
}
