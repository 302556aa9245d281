package uplink_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// batchSizes subscribes an observer to the agent's batches and records each one's entry count.
func batchSizes(t *testing.T, url string) func() []int {
	t.Helper()
	ch := make(chan int, 1000)
	c := client(t, url, "test-observer", nil)
	subscribe(t, c, wire.TopicEvents(site, agent), func(m mqtt.Message) {
		var b wire.Batch
		if err := json.Unmarshal(m.Payload(), &b); err != nil {
			t.Errorf("observer: %v", err)
			return
		}
		ch <- len(b.Events)
	})
	var got []int
	return func() []int {
		for {
			select {
			case n := <-ch:
				got = append(got, n)
			default:
				return append([]int(nil), got...)
			}
		}
	}
}

func sum(ns []int) int {
	s := 0
	for _, n := range ns {
		s += n
	}
	return s
}

// Entries committed one by one while a batch is in flight go up together, in one batch, when the
// hub's ack comes; with the linger off, each goes alone.
func TestEntriesWhileInFlightGoTogether(t *testing.T) {
	for _, tc := range []struct {
		name    string
		linger  time.Duration
		batches int // after the first entry and the 30 committed while it is unacked
	}{
		{"held", 0, 2},         // the default linger (the fake clock never reaches it)
		{"linger off", -1, 16}, // one batch per commit, bounded by the window
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testbroker.Start(t, nil)
			hub := startHub(t, b.URL(), 0) // acks nothing by itself
			sizes := batchSizes(t, b.URL())
			src := uplinktest.NewMemSource(jid)
			clk := clock.NewFake(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
			u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, Linger: tc.linger, Window: 16})
			eventually(t, 30*time.Second, "connected", u.Connected)
			src.Append(1)
			eventually(t, 30*time.Second, "the first entry reaches the hub", func() bool { return hub.maxSeq() == 1 })
			for i := range 30 {
				src.Append(1)
				if tc.linger < 0 && i < 15 {
					// Each commit seen alone: it goes at once, while the window has room.
					eventually(t, 30*time.Second, "the entry published", func() bool { return u.Stats().Batches == uint64(i+2) })
					continue
				}
				// Let the owner see this commit before the next (not needed for the outcome).
				if err := u.Heartbeat(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if tc.linger < 0 {
				if n := u.Stats().Batches; n != 16 {
					t.Fatalf("linger off: %d batches, want 16 (the window)", n)
				}
			}
			// The hub's ack for the first entry releases the held ones.
			hubAck(t, hub.cli, 1)
			eventually(t, 30*time.Second, "all 31 at the hub", func() bool { return hub.contiguous() == 31 })
			hubAck(t, hub.cli, 31)
			eventually(t, 30*time.Second, "acked 31", func() bool { return src.AckedSeq() == 31 })
			eventually(t, 30*time.Second, "the observer saw 31 entries", func() bool { return sum(sizes()) >= 31 })
			got := sizes()
			if tc.linger >= 0 && (len(got) != tc.batches || got[0] != 1 || got[1] != 30) {
				t.Fatalf("batch sizes %v, want [1 30]", got)
			}
			if tc.linger < 0 && len(got) < tc.batches {
				t.Fatalf("linger off: batch sizes %v, want at least %d batches", got, tc.batches)
			}
			hub.check()
		})
	}
}

func hubAck(t *testing.T, c mqtt.Client, seq uint64) {
	t.Helper()
	a, _ := json.Marshal(wire.Ack{JournalID: jid, AckedSeq: seq})
	publish(t, c, wire.TopicAck(site, agent), a)
}

// A lone entry on an idle link goes at once: the fake clock never moves, so no linger can pass.
func TestLoneEntryOnIdleLinkGoesAtOnce(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), ^uint64(0))
	src := uplinktest.NewMemSource(jid)
	clk := clock.NewFake(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, Linger: time.Hour})
	eventually(t, 30*time.Second, "connected", u.Connected)
	for i := uint64(1); i <= 5; i++ {
		src.Append(1)
		eventually(t, 30*time.Second, "the entry acked", func() bool { return src.AckedSeq() == i })
	}
	if n := u.Stats().Batches; n != 5 {
		t.Fatalf("%d batches for 5 entries on an idle link", n)
	}
	hub.check()
}

// A full batch goes at once even while another is in flight; only the partial rest waits.
func TestFullBatchGoesWhileInFlight(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 0)
	src := uplinktest.NewMemSource(jid)
	clk := clock.NewFake(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, Linger: time.Hour})
	eventually(t, 30*time.Second, "connected", u.Connected)
	src.Append(1)
	eventually(t, 30*time.Second, "the first entry reaches the hub", func() bool { return hub.maxSeq() == 1 })
	src.Append(2000) // several full batches (64 KiB) and a partial rest
	eventually(t, 30*time.Second, "full batches sent without an ack", func() bool { return hub.maxSeq() > 1000 })
	time.Sleep(200 * time.Millisecond) // give a wrong implementation the chance to send the rest
	if hub.maxSeq() == 2001 {
		t.Fatalf("the partial rest went while batches were in flight")
	}
	hubAck(t, hub.cli, 1)
	eventually(t, 30*time.Second, "the rest goes on the ack", func() bool { return hub.contiguous() == 2001 })
	hub.check()
}

// The linger never strands entries: with no ack at all, the held ones go when it has passed. The
// uplink stops with a batch held (the cleanup's Stop must return and leak nothing: goleak).
func TestLingerReleasesWithoutAck(t *testing.T) {
	b := testbroker.Start(t, nil)
	hub := startHub(t, b.URL(), 0)
	src := uplinktest.NewMemSource(jid)
	clk := clock.NewFake(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	const linger = 20 * time.Millisecond
	u := start(t, src, uplink.Options{URL: b.URL(), Clock: clk, Linger: linger})
	eventually(t, 30*time.Second, "connected", u.Connected)
	src.Append(1)
	eventually(t, 30*time.Second, "the first entry reaches the hub", func() bool { return hub.maxSeq() == 1 })
	waiters := clk.Waiters()
	src.Append(5)
	eventually(t, 30*time.Second, "the linger armed", func() bool { return clk.Waiters() > waiters })
	if n := u.Stats().Batches; n != 1 {
		t.Fatalf("%d batches before the linger passed, want 1", n)
	}
	clk.Advance(linger)
	eventually(t, 30*time.Second, "the held entries reach the hub", func() bool { return hub.contiguous() == 6 })
	if n := u.Stats().Batches; n != 2 {
		t.Fatalf("%d batches, want 2 (the held five together)", n)
	}
	// More while the two are still unacked: held again, and Stop ends the uplink with them held.
	waiters = clk.Waiters()
	src.Append(3)
	eventually(t, 30*time.Second, "the linger armed again", func() bool { return clk.Waiters() > waiters })
	if src.AckedSeq() != 0 {
		t.Fatalf("acked %d without a hub ack", src.AckedSeq())
	}
	hub.check()
}
