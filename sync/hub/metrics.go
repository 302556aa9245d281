package hub

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the hub's Prometheus registry behind GET /metrics. It has its own registry (plus the
// Go and process collectors), never the global one, so several hubs in one test process do not
// collide.
//
// The counters of Stats (ingested, duplicates, conflicts, chain breaks, unverified evidence, drops,
// catch-up pages, commits) are read from the hub at scrape time, so they are the persisted counts
// /v1/stats shows and survive a restart. The rest is observed as it happens: acks published, the
// latency of the store's commit, the owner's queue, and per agent the acked seq (after the commit)
// against what the agent reports in its retained status (last_seq, unsynced). A nil *metrics is a
// no-op (tests build a Hub without New).
type metrics struct {
	reg     *prometheus.Registry
	acks    prometheus.Counter
	commit  prometheus.Histogram
	acked   *prometheus.GaugeVec
	last    *prometheus.GaugeVec
	lag     *prometheus.GaugeVec
	unsync  *prometheus.GaugeVec
	online  *prometheus.GaugeVec
	mu      sync.Mutex
	agents  map[[2]string]*agentView
	handler http.Handler
}

// agentView is what the hub knows of one agent's sync: the journal and seq it acked, and the
// journal and last seq the agent reported in its status.
type agentView struct {
	journal   string
	acked     uint64
	statusJID string
	lastSeq   uint64
	lastKnown bool
}

func newMetrics(h *Hub) *metrics {
	agentLabels := []string{"site", "agent"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Name: "wedge_hub_acks_published_total",
			Help: "Acks published to agents (each after the commit of the entries it covers)."}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wedge_hub_store_commit_seconds",
			Help:    "Duration of one store transaction of the owner goroutine (group commit), failed ones included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		acked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_hub_agent_acked_seq",
			Help: "Highest contiguous seq of the agent's current journal the hub has committed and acked."}, agentLabels),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_hub_agent_reported_seq",
			Help: "Last journal seq the agent reported in its status (agents that report it)."}, agentLabels),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_hub_agent_lag_entries",
			Help: "Entries the agent reported (status last_seq) that the hub has not acked yet."}, agentLabels),
		unsync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_hub_agent_unsynced_entries",
			Help: "Unsynced entries as the agent reported them in its status."}, agentLabels),
		online: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wedge_hub_agent_online",
			Help: "1 while the agent's retained status says online."}, agentLabels),
		agents: map[[2]string]*agentView{},
	}
	stat := func(name, help string, f func(s *Stats) uint64, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 {
			s := h.Stats()
			return float64(f(&s))
		})
	}
	drop := "Payloads or entries dropped, by reason (malformed, mismatched topic, invalid entry, queue full)."
	m.reg.MustRegister(m.acks, m.commit, m.acked, m.last, m.lag, m.unsync, m.online,
		stat("wedge_hub_entries_ingested_total", "Journal entries stored and applied.", func(s *Stats) uint64 { return s.EventsIngested }, nil),
		stat("wedge_hub_duplicates_total", "Entries received again (already stored) and dropped.", func(s *Stats) uint64 { return s.DuplicatesDropped }, nil),
		stat("wedge_hub_conflicts_total", "Duplicates whose content differs from the stored entry (kept as evidence).", func(s *Stats) uint64 { return s.Conflicts }, nil),
		stat("wedge_hub_chain_breaks_total", "Entries whose hash or link to the stored chain does not match (kept as evidence).", func(s *Stats) uint64 { return s.ChainBreaks }, nil),
		stat("wedge_hub_unverified_entries_total", "Entries kept as unverified evidence, never applied.", func(s *Stats) uint64 { return s.Unverified }, nil),
		stat("wedge_hub_signature_refused_total", "Batches refused for their signature.", func(s *Stats) uint64 { return s.SignatureRefused }, nil),
		stat("wedge_hub_evidence_dropped_total", "Unverified entries not kept because the evidence store is full.", func(s *Stats) uint64 { return s.EvidenceDropped }, nil),
		stat("wedge_hub_dropped_total", drop, func(s *Stats) uint64 { return s.MalformedDropped }, prometheus.Labels{"reason": "malformed"}),
		stat("wedge_hub_dropped_total", drop, func(s *Stats) uint64 { return s.MismatchedDropped }, prometheus.Labels{"reason": "mismatched"}),
		stat("wedge_hub_dropped_total", drop, func(s *Stats) uint64 { return s.InvalidEntries }, prometheus.Labels{"reason": "invalid_entry"}),
		stat("wedge_hub_dropped_total", drop, func(s *Stats) uint64 { return s.OverloadDropped }, prometheus.Labels{"reason": "overload"}),
		stat("wedge_hub_downlink_published_total", "Downlink messages stored with an hseq and published.", func(s *Stats) uint64 { return s.DownlinkPublished }, nil),
		stat("wedge_hub_catchup_pages_total", "Catch-up answer pages published.", func(s *Stats) uint64 { return s.CatchupPages }, nil),
		stat("wedge_hub_catchups_deferred_total", "Catch-up requests answered later for their agent's pace.", func(s *Stats) uint64 { return s.CatchupsDeferred }, nil),
		stat("wedge_hub_catchups_merged_total", "Catch-up requests folded into one already waiting.", func(s *Stats) uint64 { return s.CatchupsMerged }, nil),
		stat("wedge_hub_commits_total", "Store transactions committed (entries_ingested / commits is the group-commit factor).", func(s *Stats) uint64 { return s.Commits }, nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wedge_hub_queue_depth",
			Help: "Items waiting for the owner goroutine."}, func() float64 { n, _ := h.queueLen(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wedge_hub_queue_bytes",
			Help: "Payload bytes waiting for the owner goroutine."}, func() float64 { _, b := h.queueLen(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wedge_hub_broker_connected",
			Help: "1 while the MQTT connection is up."}, func() float64 {
			if h.cli != nil && h.cli.IsConnectionOpen() {
				return 1
			}
			return 0
		}),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

func (h *Hub) queueLen() (n, bytes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.queue), h.queueBytes
}

// serveMetrics is GET /metrics.
func (h *Hub) serveMetrics(w http.ResponseWriter, r *http.Request) { h.metrics.handler.ServeHTTP(w, r) }

// observeCommit records the duration of one store transaction.
func (m *metrics) observeCommit(d time.Duration) {
	if m != nil {
		m.commit.Observe(d.Seconds())
	}
}

// ackPublished counts an ack and records the journal's acked seq (after the commit).
func (m *metrics) ackPublished(j journalRec) {
	if m == nil {
		return
	}
	m.acks.Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view(j.Site, j.Agent)
	v.journal, v.acked = j.JournalID, j.AckedSeq
	m.setLag(j.Site, j.Agent, v)
}

// agentStatus records what an agent's status says (its counts only while online), with the journal and acked seq the hub holds
// for it (a is the agent record as the status leaves it).
func (m *metrics) agentStatus(a agentRec, online bool, lastSeq, unsynced uint64, statusJID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view(a.Site, a.Agent)
	if a.JournalID != "" {
		v.journal, v.acked = a.JournalID, a.AckedSeq
	}
	up := 0.0
	if online {
		up = 1
	}
	m.online.WithLabelValues(a.Site, a.Agent).Set(up)
	if online { // a last will carries no counts: keep what the agent last reported
		m.unsync.WithLabelValues(a.Site, a.Agent).Set(float64(unsynced))
		if lastSeq > 0 {
			v.statusJID, v.lastSeq, v.lastKnown = statusJID, lastSeq, true
			m.last.WithLabelValues(a.Site, a.Agent).Set(float64(lastSeq))
		}
	}
	m.setLag(a.Site, a.Agent, v)
}

func (m *metrics) view(site, agent string) *agentView {
	k := [2]string{site, agent}
	v := m.agents[k]
	if v == nil {
		v = &agentView{}
		m.agents[k] = v
	}
	return v
}

// setLag sets the acked gauge and, when the agent reported its last seq for the journal the hub
// acks, the lag (never negative: an ack can overtake a status).
func (m *metrics) setLag(site, agent string, v *agentView) {
	m.acked.WithLabelValues(site, agent).Set(float64(v.acked))
	if !v.lastKnown || (v.statusJID != "" && v.statusJID != v.journal) {
		m.lag.DeleteLabelValues(site, agent) // not known for the journal the hub acks
		return
	}
	lag := uint64(0)
	if v.lastSeq > v.acked {
		lag = v.lastSeq - v.acked
	}
	m.lag.WithLabelValues(site, agent).Set(float64(lag))
}
