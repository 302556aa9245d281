package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
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
		{"CatchupOfASubscribedAgentStopsAtTheRecordedEnd", TestCatchupOfASubscribedAgentStopsAtTheRecordedEnd},
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
	// Stats are the store's counters, which every commit adds to: both replicas show the
	// network's, in /v1/stats and /metrics.
	var s1, s2 hub.Stats
	getJSON(t, h1, "/v1/stats", 200, &s1)
	getJSON(t, h2, "/v1/stats", 200, &s2)
	if s1.EventsIngested != uint64(len(entries)) || s2.EventsIngested != uint64(len(entries)) {
		t.Fatalf("ingested %d and %d, want %d on both (each entry once, network-wide)", s1.EventsIngested, s2.EventsIngested, len(entries))
	}
	if s1.OrdersPerState["waybill_printed"] != orders || s1.Commits != s2.Commits {
		t.Fatalf("stats %+v / %+v: want %d orders waybill_printed and one commit count", s1, s2, orders)
	}
	if n := scrape(t, h2, tokenFor(t, h2))["wedge_hub_entries_ingested_total"]; n != float64(len(entries)) {
		t.Fatalf("/metrics of replica 2 counts %v entries, want the network's %d", n, len(entries))
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
}

// Three replicas on one PostgreSQL take POST /v1/orders at once for the same two sites: every
// message gets its own hseq, and each site's numbers are 1..n without a gap, in the answers, in the
// stored downlink log and on the site topic the agents receive (in whatever order the replicas
// published).
func TestThreeReplicasNumberPostsWithoutGaps(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	var hubs []*hub.Hub
	for i := range 3 {
		hubs = append(hubs, startHub(t, b.URL(), t.TempDir(), fmt.Sprintf("wedge-hub-r%d", i), clk, nil, func(o *hub.Options) { o.Store = stores(t) }))
	}
	sites := []string{"sz01", "sz02"}
	agents := map[string]*agent{}
	for _, s := range sites {
		agents[s] = newAgent(t, b.URL(), s, "pack01")
	}
	const posters, posts, perPost = 4, 10, 3 // per replica
	type answer struct {
		site string
		r    postResp
	}
	answers := make(chan answer, len(hubs)*posters*posts)
	var wg sync.WaitGroup
	for hi, h := range hubs {
		token := tokenFor(t, h)
		for p := range posters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range posts {
					site := sites[n%len(sites)]
					var orders []wire.OrderMsg
					for k := range perPost {
						orders = append(orders, wire.OrderMsg{Type: wire.TypeOrder, Channel: "tmall", BuyerID: "b", OrderedAt: "2026-01-22T08:00:00Z",
							SKUs: []string{"S"}, ChannelOrderNo: fmt.Sprintf("4012%02d%02d%02d%02d", hi, p, n, k)})
					}
					r, err := postOrdersNoFatal(h, token, site, orders)
					if err != nil {
						t.Error(err)
						return
					}
					answers <- answer{site, r}
				}
			}()
		}
	}
	wg.Wait()
	close(answers)
	perSite := len(hubs) * posters * posts / len(sites) * perPost
	byHSeq := map[string]map[uint64]string{} // site → hseq → order id, from the answers
	for a := range answers {
		m := byHSeq[a.site]
		if m == nil {
			m = map[uint64]string{}
			byHSeq[a.site] = m
		}
		for i, h := range a.r.HSeqs {
			if prev, dup := m[h]; dup {
				t.Fatalf("%s hseq %d given to %s and %s", a.site, h, prev, a.r.OrderIDs[i])
			}
			m[h] = a.r.OrderIDs[i]
		}
	}
	log := stores(t)
	defer log.Close()
	for _, site := range sites {
		want := byHSeq[site]
		if len(want) != perSite {
			t.Fatalf("%s: %d hseqs answered, want %d", site, len(want), perSite)
		}
		for h := uint64(1); h <= uint64(perSite); h++ {
			if want[h] == "" {
				t.Fatalf("%s: hseq %d was never given (a gap)", site, h)
			}
		}
		var stored []wire.OrderMsg
		err := log.View(context.Background(), func(tx hub.Tx) error {
			return tx.Downlink(site, 0, func(_ uint64, doc []byte) (bool, error) {
				var m wire.OrderMsg
				err := json.Unmarshal(doc, &m)
				stored = append(stored, m)
				return true, err
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range stored {
			if m.HSeq != uint64(i+1) || m.OrderID != want[m.HSeq] {
				t.Fatalf("%s downlink log #%d: hseq %d order %s, want hseq %d order %s", site, i+1, m.HSeq, m.OrderID, i+1, want[uint64(i+1)])
			}
		}
		if len(stored) != perSite {
			t.Fatalf("%s downlink log holds %d messages, want %d", site, len(stored), perSite)
		}
		a := agents[site]
		waitFor(t, site+": every hseq on the site topic", func() bool {
			got := map[uint64]bool{}
			for _, m := range a.siteMsgs() {
				got[m.HSeq] = true
			}
			return len(got) == perSite
		})
		for _, m := range a.siteMsgs() {
			if m.OrderID != want[m.HSeq] {
				t.Fatalf("%s agent received hseq %d for %s, the log has %s", site, m.HSeq, m.OrderID, want[m.HSeq])
			}
		}
	}
}

// postOrdersNoFatal POSTs orders for site to h; usable from any goroutine.
func postOrdersNoFatal(h *hub.Hub, token, site string, orders []wire.OrderMsg) (postResp, error) {
	var r postResp
	body, _ := json.Marshal(map[string]any{"site": site, "orders": orders})
	req, err := http.NewRequest(http.MethodPost, "http://"+h.Addr()+"/v1/orders", bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("POST /v1/orders to %s: %d %s", h.Addr(), resp.StatusCode, rb)
	}
	if err := json.Unmarshal(rb, &r); err != nil || len(r.HSeqs) != len(orders) {
		return r, fmt.Errorf("POST /v1/orders answer %s: %v", rb, err)
	}
	return r, nil
}
