package auth

import (
	"net/netip"
	"testing"
	"time"
)

func TestThrottleBlocksAfterLimitUntilWindowPasses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle()
	th.Limit, th.Window = 3, time.Minute
	th.Now = func() time.Time { return now }
	src := Source("192.0.2.7:5555")

	for i := 1; i <= 3; i++ {
		if blocked, _ := th.Blocked(src); blocked {
			t.Fatalf("blocked before failure %d", i)
		}
		if got := th.Fail(src); got != (i == 3) {
			t.Fatalf("failure %d: justBlocked = %v", i, got)
		}
	}
	blocked, wait := th.Blocked(src)
	if !blocked || wait != time.Minute {
		t.Fatalf("after 3 failures: blocked=%v wait=%s, want true 1m", blocked, wait)
	}
	if b, _ := th.Blocked(Source("192.0.2.8:1")); b {
		t.Fatal("another source is blocked too")
	}
	now = now.Add(59 * time.Second)
	if blocked, wait = th.Blocked(src); !blocked || wait != time.Second {
		t.Fatalf("at 59 s: blocked=%v wait=%s", blocked, wait)
	}
	now = now.Add(time.Second)
	if blocked, _ = th.Blocked(src); blocked {
		t.Fatal("still blocked when the window has passed")
	}
	if th.Len() != 0 {
		t.Fatalf("expired entry kept: %d", th.Len())
	}
}

func TestThrottleSourceKeys(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"192.0.2.1:80":              "192.0.2.1/32",
		"[::ffff:192.0.2.1]:80":     "192.0.2.1/32",
		"[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:1":       "2001:db8:1:2::/64",
		"198.51.100.4":              "198.51.100.4/32",
		"not an address":            "invalid Prefix",
	}
	for in, want := range cases {
		if got := Source(in).String(); got != want {
			t.Errorf("Source(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestThrottleTableIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle()
	th.MaxSources = 100
	th.Now = func() time.Time { now = now.Add(time.Millisecond); return now }
	for i := range 1000 {
		th.Fail(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
	}
	if n := th.Len(); n > 100 {
		t.Fatalf("table holds %d sources, bound is 100", n)
	}
	// The newest source is kept; the oldest went first.
	if b := th.sources[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 3, 231}), 32)]; b == nil {
		t.Fatal("newest source evicted")
	}
	if b := th.sources[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, 0}), 32)]; b != nil {
		t.Fatal("oldest source kept")
	}
}
