package handlers

import (
	"testing"
	"time"
)

func TestRateLimits(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := newRateLimits(10, 5) // 10 events/s, 5 at once
	l.now = func() time.Time { return now }
	a, b := [32]byte{1}, [32]byte{2}
	for i := range 5 {
		if ok, _ := l.allow(a, 1); !ok {
			t.Fatalf("publish %d within the burst refused", i)
		}
	}
	ok, wait := l.allow(a, 1)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	if ok, _ := l.allow(b, 5); !ok {
		t.Fatal("another token shares the bucket")
	}
	now = now.Add(300 * time.Millisecond) // 3 tokens back
	if ok, _ := l.allow(a, 3); !ok {
		t.Fatal("tokens did not come back with time")
	}
	if ok, wait := l.allow(a, 6); ok || wait >= 0 {
		t.Fatalf("a batch over the burst: ok=%v wait=%v, want refused for good", ok, wait)
	}
	if ok, _ := newRateLimits(0, 0).allow(a, 1000); !ok {
		t.Fatal("rate 0 must not limit")
	}
}

func TestStreamLimits(t *testing.T) {
	t.Parallel()
	l := newStreamLimits(3, 2)
	if !l.acquire("a") || !l.acquire("a") || l.acquire("a") {
		t.Fatal("per-IP limit of 2 not enforced")
	}
	if !l.acquire("b") || l.acquire("c") {
		t.Fatal("total limit of 3 not enforced")
	}
	l.release("a")
	if !l.acquire("c") {
		t.Fatal("a released place was not reusable")
	}
	if len(l.perIP) != 3 || l.perIP["a"] != 1 || l.total != 3 {
		t.Fatalf("per-IP counts %v", l.perIP)
	}
}
