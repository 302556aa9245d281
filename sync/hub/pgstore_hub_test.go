package hub_test

import (
	"context"
	"fmt"
	"testing"

	"wedge/internal/clock"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
	"wedge/sync/hub/pgstore"
	"wedge/sync/wire"
)

// pgStores returns a function that opens a new handle on one fresh, migrated database.
func pgStores(t *testing.T, srv *testpg.Server) func(t *testing.T) hub.Store {
	dsn := srv.NewDatabase(t)
	if _, _, err := pgstore.Migrate(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T) hub.Store {
		s, err := pgstore.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// The hub's behaviour tests, run again with the hub's state in PostgreSQL: dedupe, conflicts
// (first kept), chain checks and evidence, contiguous acks, monotonic merges across agents, the
// downlink sequence and catch-up, commands, tokens, restart, stats.
func TestBehaviourOnPostgres(t *testing.T) {
	srv := testpg.Start(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"BatchStoredAckedAndStateAuthoritative", TestBatchStoredAckedAndStateAuthoritative},
		{"DuplicateBatchCountedNotApplied", TestDuplicateBatchCountedNotApplied},
		{"GapHoldsAckUntilFilled", TestGapHoldsAckUntilFilled},
		{"TwoJournalsOfOneAgentStoredSeparately", TestTwoJournalsOfOneAgentStoredSeparately},
		{"StateMergeIsMonotonic", TestStateMergeIsMonotonic},
		{"PostOrdersPublishesWithHSeqAndFingerprint", TestPostOrdersPublishesWithHSeqAndFingerprint},
		{"CatchupReplaysInOrder", TestCatchupReplaysInOrder},
		{"RestartKeepsEverything", TestRestartKeepsEverything},
		{"MalformedInputDroppedHubKeepsGoing", TestMalformedInputDroppedHubKeepsGoing},
		{"ChainBreaksKeptAsEvidenceNotApplied", TestChainBreaksKeptAsEvidenceNotApplied},
		{"AgentStatusTracked", TestAgentStatusTracked},
		{"RejectionOnlyOrderShowsHistory", TestRejectionOnlyOrderShowsHistory},
		{"ReinstalledAgentAnnouncedByStatus", TestReinstalledAgentAnnouncedByStatus},
		{"JournalEntriesPaged", TestJournalEntriesPaged},
		{"WaitingEntryThatDoesNotLinkIsEvidence", TestWaitingEntryThatDoesNotLinkIsEvidence},
		{"CommandStoredAndPublished", TestCommandStoredAndPublished},
		{"CommandByIsTheTokenName", TestCommandByIsTheTokenName},
		{"APINeedsATokenWithTheRightScope", TestAPINeedsATokenWithTheRightScope},
		{"TokenAdminAPI", TestTokenAdminAPI},
		{"TraceByEveryKey", TestTraceByEveryKey},
		{"TraceErrors", TestTraceErrors},
		{"TracePostedOrders", TestTracePostedOrders},
		{"CentralLists", TestCentralLists},
		{"CentralMeasuresOnTheHub", TestCentralMeasuresOnTheHub},
		{"ConsoleCommandAuditedLikeTheAPI", TestConsoleCommandAuditedLikeTheAPI},
		{"ConsoleBrowser", TestConsoleBrowser},
		{"PresaleWatchOnTheHub", TestPresaleWatchOnTheHub},
	} {
		t.Run(c.name, func(t *testing.T) {
			envStore = pgStores(t, srv)
			defer func() { envStore = nil }()
			c.run(t)
		})
	}
}

// Two hubs sharing one PostgreSQL store split an agent's stream (shared subscription), and
// together they store every entry once and ack the whole journal: the ack each publishes is the
// contiguous prefix of what both stored.
func TestTwoHubsShareOnePostgresStore(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	h1 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r1", clk, nil, func(o *hub.Options) { o.Store = stores(t) })
	h2 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r2", clk, nil, func(o *hub.Options) { o.Store = stores(t) })
	a := newAgent(t, b.URL(), "sz01", "pack01")
	const orders = 20
	var tmpl []wire.Entry
	for i := range orders {
		tmpl = append(tmpl, spine(fmt.Sprintf("O-%d", i))[:2]...)
	}
	entries := chain("j1", tmpl...)
	for _, e := range entries { // one entry per batch, so the broker spreads them over both hubs
		a.send("j1", e)
	}
	waitFor(t, "the whole journal acked", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, ack := range a.acks {
			if ack.AckedSeq == uint64(len(entries)) {
				return true
			}
		}
		return false
	})
	// Stats are each replica's own counters; the entries in the store are what counts.
	var page hub.JournalEntries
	getJSON(t, h2, "/v1/journals/sz01/pack01/j1/entries", 200, &page)
	if page.AckedSeq != uint64(len(entries)) || len(page.Entries) != len(entries) {
		t.Fatalf("store holds acked %d, %d entries; want %d", page.AckedSeq, len(page.Entries), len(entries))
	}
	for i, e := range page.Entries {
		if e.Hash != entries[i].Hash {
			t.Fatalf("entry %d differs", i+1)
		}
	}
	s1, s2 := h1.Stats(), h2.Stats()
	if s1.EventsIngested == 0 || s2.EventsIngested == 0 {
		t.Logf("one hub got every batch (%d / %d): the split is the broker's choice", s1.EventsIngested, s2.EventsIngested)
	}
	if s1.EventsIngested+s2.EventsIngested != uint64(len(entries)) {
		t.Fatalf("ingested %d + %d, want %d in all (each entry once)", s1.EventsIngested, s2.EventsIngested, len(entries))
	}
	// Every order is in the state its two entries led to, seen by either hub.
	var o struct {
		State string `json:"state"`
	}
	getJSON(t, h1, "/v1/orders/O-7", 200, &o)
	if o.State != "waybill_printed" {
		t.Fatalf("O-7 = %+v", o)
	}
	// The replicas drew the site's hseqs from one counter: each state message has its own, no gaps.
	waitFor(t, "a state message per order", func() bool { return len(a.siteMsgs()) >= orders })
	seen := map[uint64]bool{}
	for _, m := range a.siteMsgs() {
		if seen[m.HSeq] || m.HSeq == 0 || m.HSeq > orders {
			t.Fatalf("hseq %d given twice or out of 1..%d", m.HSeq, orders)
		}
		seen[m.HSeq] = true
	}
	t.Logf("replica 1 ingested %d entries, replica 2 %d", s1.EventsIngested, s2.EventsIngested)
}
