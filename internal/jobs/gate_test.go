package jobs

import (
	"context"
	"testing"
	"time"
)

func TestHostGate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newHostGate(2, 100*time.Millisecond, 5*time.Second)
	r1, ok1 := g.acquire(ctx, "a:1")
	r2, ok2 := g.acquire(ctx, "a:1")
	if !ok1 || !ok2 || g.inFlight("a:1") != 2 {
		t.Fatalf("two slots: %v %v, in flight %d", ok1, ok2, g.inFlight("a:1"))
	}
	// Another host is not affected.
	r3, ok3 := g.acquire(ctx, "b:1")
	if !ok3 {
		t.Fatal("another host is blocked")
	}
	r3()
	// A quick host: a third request waits for a slot.
	go func() {
		time.Sleep(20 * time.Millisecond)
		r1()
	}()
	start := time.Now()
	r4, ok4 := g.acquire(ctx, "a:1")
	if !ok4 || time.Since(start) > 4*time.Second {
		t.Fatalf("waiting for a freed slot: %v after %v", ok4, time.Since(start))
	}
	// A slow host (its requests older than slowAfter): busy at once.
	time.Sleep(150 * time.Millisecond)
	start = time.Now()
	if _, ok := g.acquire(ctx, "a:1"); ok || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("slow host: acquired %v after %v", ok, time.Since(start))
	}
	r2()
	r4()
	r4() // a second release is harmless
	if g.inFlight("a:1") != 0 || len(g.hosts) != 0 {
		t.Fatalf("after release: %d in flight, %d hosts kept", g.inFlight("a:1"), len(g.hosts))
	}
	// A full, quick host: busy after maxWait.
	g = newHostGate(2, time.Minute, 300*time.Millisecond)
	ra, _ := g.acquire(ctx, "c:1")
	rb, _ := g.acquire(ctx, "c:1")
	start = time.Now()
	if _, ok := g.acquire(ctx, "c:1"); ok || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("full host: acquired %v after %v", ok, time.Since(start))
	}
	ra()
	rb()
}

func TestSignals(t *testing.T) {
	t.Parallel()
	var s signals
	ch1, done1 := s.wait("k")
	ch2, done2 := s.wait("k")
	s.wake("k")
	for _, ch := range []<-chan struct{}{ch1, ch2} {
		select {
		case <-ch:
		default:
			t.Fatal("waiter not woken")
		}
	}
	done1()
	done2()
	_, done3 := s.wait("other")
	done3()
	done3()
	if s.size() != 0 {
		t.Fatalf("%d keys kept after every waiter left", s.size())
	}
}
