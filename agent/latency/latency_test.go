package latency

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 20, 10, 0, 0, 0, time.UTC)

// The field notes' case: before a festival the payment → warehouse push averaged 23 minutes and
// nobody was warned. Orders paid 23 minutes before they reach the PC raise the alert once; the
// distribution puts them in the 23-minute bucket.
func TestTwentyThreeMinuteDelayAlerts(t *testing.T) {
	w := New(Options{})
	now := t0
	for i := range 30 {
		now = t0.Add(time.Duration(i) * 10 * time.Second)
		if k, d := w.Add(now, now.Add(-23*time.Minute)); k != Measured || d != 23*time.Minute {
			t.Fatalf("Add = %v %v", k, d)
		}
	}
	s, raised := w.Observe(now)
	if !raised || !s.Alert || s.Median != 23*time.Minute || s.Count != 30 || s.Limit != DefaultLimit {
		t.Fatalf("stats %+v raised %v", s, raised)
	}
	if i := bucket(23 * time.Minute); Buckets[i] != 23*time.Minute || s.Buckets[i] != 30 {
		t.Errorf("buckets %v", s.Buckets)
	}
	if _, again := w.Observe(now.Add(time.Second)); again {
		t.Error("the alert rose twice")
	}
}

// Orders on time do not alert; the median is the window's middle, not its mean (one very late
// order does not make the floor late).
func TestMedianOnTime(t *testing.T) {
	w := New(Options{Limit: 10 * time.Minute})
	for i, late := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 5 * time.Hour} {
		at := t0.Add(time.Duration(i) * time.Second)
		w.Add(at, at.Add(-late))
	}
	s, raised := w.Observe(t0.Add(time.Minute))
	if raised || s.Alert || s.Median != 150*time.Second || s.Max != 5*time.Hour || s.Buckets[len(s.Buckets)-1] != 1 {
		t.Fatalf("stats %+v raised %v", s, raised)
	}
}

// Orders without paid_at and orders paid "after" they arrived (the order system's clock ahead)
// are counted apart and change neither the median nor the alert.
func TestMissingAndFuturePaidAt(t *testing.T) {
	w := New(Options{})
	w.Add(t0, t0.Add(-time.Minute))
	if k, _ := w.Add(t0, time.Time{}); k != NoPaidAt {
		t.Fatalf("no paid_at: %v", k)
	}
	for range 5 {
		if k, _ := w.Add(t0, t0.Add(3*time.Hour)); k != Future {
			t.Fatalf("future: %v", k)
		}
	}
	s, raised := w.Observe(t0)
	if raised || s.Count != 1 || s.Median != time.Minute || s.NoPaidAt != 1 || s.Future != 5 {
		t.Fatalf("stats %+v", s)
	}
}

// Samples leave the window after 10 minutes; the alert is re-armed when the median falls to 80%
// of the limit or the window empties, and rises again after that.
func TestWindowAndReArm(t *testing.T) {
	w := New(Options{Limit: 10 * time.Minute})
	w.Add(t0, t0.Add(-12*time.Minute))
	if _, raised := w.Observe(t0); !raised {
		t.Fatal("no alert at 12m")
	}
	w.Add(t0.Add(time.Minute), t0.Add(-8*time.Minute)) // median (12m+9m)/2 = 10m30s: still over
	w.Add(t0.Add(time.Minute), t0.Add(-8*time.Minute)) // median 9m: under, not re-armed (> 8m)
	if s, raised := w.Observe(t0.Add(time.Minute)); raised || !s.Alert || s.Median != 9*time.Minute {
		t.Fatalf("stats %+v raised %v", s, raised)
	}
	s, _ := w.Observe(t0.Add(11*time.Minute + time.Second)) // every sample left the window
	if s.Count != 0 || s.Alert || s.Median != 0 {
		t.Fatalf("empty window %+v", s)
	}
	at := t0.Add(12 * time.Minute)
	w.Add(at, at.Add(-15*time.Minute))
	if _, raised := w.Observe(at); !raised {
		t.Fatal("the alert did not rise again after it was re-armed")
	}
}
