package hub

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"wedge/internal/mail"
	"wedge/sync/apitoken"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// The central measures (sync/hub/central) on the hub's records: the anomaly counters the owner
// keeps and the read endpoints (GET /v1/kpi, /v1/kpi/late, /v1/anomalies, /v1/consistency,
// /v1/presale); the daily report is in dailyreport.go.

// MeasuresOptions configure the measures and the daily report (zero = defaults).
type MeasuresOptions struct {
	central.Options
	// ReportAt is when the daily report of the previous day is written, "HH:MM" in the network's
	// zone (default central.DefaultReportAt, 10:00). "off" writes none.
	ReportAt string
	// Mailer sends the daily report when set (e.g. a mail.Config).
	Mailer Mailer
	// Tick is how often the periodic rules run (rules_tick.go: sites' KPI warnings, 伪完成
	// counted as anomalies); default DefaultRulesTick, 5m; negative: they never run.
	Tick time.Duration
}

// Mailer sends one e-mail.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

type anomalyKey struct{ hour, site, kind string }

// anomaly counts one anomaly of kind at site in the hour of at; stored with the transaction.
func (g *group) anomaly(site, kind string, at time.Time) {
	if g.anomalies == nil {
		g.anomalies = map[anomalyKey]uint64{}
	}
	g.anomalies[anomalyKey{central.HourKey(at), site, kind}]++
}

// entryAnomaly counts what an applied entry records (a rejection, a manual confirmation, an
// overdue alert) in the hour the PC journaled it.
func (g *group) entryAnomaly(site string, e wire.Entry) {
	if k := central.EntryKind(e.Kind, e.Trigger, e.Reason, e.Detail); k != "" {
		g.anomaly(site, k, entryTime(e, g.now))
	}
}

// flushAnomalies adds the group's counts to the store, in key order: replicas then lock the
// counter rows in the same order and do not deadlock on them.
func (g *group) flushAnomalies() error {
	keys := make([]anomalyKey, 0, len(g.anomalies))
	for k := range g.anomalies {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b anomalyKey) int {
		return cmp.Or(strings.Compare(a.hour, b.hour), strings.Compare(a.site, b.site), strings.Compare(a.kind, b.kind))
	})
	for _, k := range keys {
		if err := g.tx.AddAnomalies(k.hour, k.site, k.kind, g.anomalies[k]); err != nil {
			return err
		}
	}
	return nil
}

// centralOrders loads the order records of site ("" = all) with their histories. The records are
// read first and the histories after: a store may not run a query inside another's walk.
func centralOrders(tx Tx, site string) ([]central.Order, error) {
	return centralOrdersWhere(tx, func(rec orderRec) bool { return site == "" || rec.Site == site })
}

// centralOrdersWhere is centralOrders of the records keep accepts (histories are read only for
// those).
func centralOrdersWhere(tx Tx, keep func(orderRec) bool) ([]central.Order, error) {
	var out []central.Order
	var waybills [][]string // out[i]'s printed and assigned waybill
	err := tx.OrderRecords("", func(id string, doc []byte) (bool, error) {
		rec, err := decodeOrder([]byte(id), doc)
		if err != nil || !keep(rec) {
			return err == nil, err
		}
		o := rec.Order
		out = append(out, central.Order{ID: id, Site: rec.Site, Channel: o.Channel, Carrier: o.Carrier, Payment: o.Payment, State: o.State,
			PaidAt: o.PaidAt, CreatedAt: parseWire(rec.CreatedAt), UpdatedAt: parseWire(rec.UpdatedAt), BalancePaidAt: parseWire(rec.BalancePaidAt),
			Waybill: o.Waybill})
		waybills = append(waybills, []string{o.Waybill, o.AssignedWaybill})
		return true, nil
	})
	for i := range out {
		if err != nil {
			break
		}
		if out[i].FirstScanAt, err = firstScanAt(tx, out[i].ID, waybills[i]); err != nil {
			break
		}
		var keys []EntryKey
		if err = tx.History(out[i].ID, func(k EntryKey) error { keys = append(keys, k); return nil }); err != nil {
			break
		}
		for _, k := range keys {
			var se storedEntry
			if _, err = getDoc(tx.Entry(k))(fmt.Sprintf("entry %q", ekey(k)), &se); err != nil {
				break
			}
			out[i].History = append(out[i].History, centralEntry(se))
		}
	}
	return out, err
}

// firstScanAt is the earliest carrier first scan stored under the order's waybills (zero: none).
// An implied first scan (inferred from a later event, at its time) is not a scan time and is left
// out. An event stored before the waybill was known to belong to an order (no order id) counts; one
// recorded for another order (a reused number) does not.
func firstScanAt(tx Tx, orderID string, waybills []string) (time.Time, error) {
	var first time.Time
	for i, wb := range waybills {
		if wb == "" || i > 0 && wb == waybills[0] {
			continue
		}
		err := tx.Tracking(wb, func(doc []byte) (bool, error) {
			var e TrackingEvent
			if _, err := getDoc(doc, nil)("tracking", &e); err != nil {
				return false, err
			}
			if e.Event == TrackFirstScan && !e.Implied && (e.OrderID == "" || e.OrderID == orderID) && !e.At.IsZero() && (first.IsZero() || e.At.Before(first)) {
				first = e.At
			}
			return true, nil
		})
		if err != nil {
			return time.Time{}, err
		}
	}
	return first, nil
}

func centralEntry(se storedEntry) central.Entry {
	e := se.Entry
	return central.Entry{Site: se.Site, Agent: se.Agent, Journal: e.JournalID, Seq: e.Seq, Kind: e.Kind, From: e.From, To: e.To,
		Trigger: e.Trigger, Reason: e.Reason, Detail: e.Detail, Operator: e.Operator, Station: e.Station, Device: e.Device,
		At: parseWire(e.At), ReceivedAt: parseWire(se.ReceivedAt)}
}

func parseWire(s string) time.Time {
	t, err := wire.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// anomalyCounts loads the counters of the UTC hours that can fall in the local days from..to of
// any zone (a day's margin each side; central filters by each site's zone).
func anomalyCounts(tx Tx, from, to string) ([]central.AnomalyCount, error) {
	lo, hi := "", ""
	if t, err := time.Parse(central.Day, from); err == nil {
		lo = central.HourKey(t.AddDate(0, 0, -1))
	}
	if t, err := time.Parse(central.Day, to); err == nil {
		hi = central.HourKey(t.AddDate(0, 0, 2))
	}
	var out []central.AnomalyCount
	err := tx.Anomalies(lo, hi, func(hour, site, kind string, n uint64) error {
		h, err := central.ParseHourKey(hour)
		if err != nil {
			return fmt.Errorf("%w: anomaly counter hour %q", ErrStore, hour)
		}
		out = append(out, central.AnomalyCount{Hour: h, Site: site, Kind: kind, N: n})
		return nil
	})
	return out, err
}

// dayRange reads from and to (YYYY-MM-DD, both optional); false after answering 400.
func dayRange(w http.ResponseWriter, r *http.Request) (from, to string, ok bool) {
	from, to = r.URL.Query().Get("from"), r.URL.Query().Get("to")
	for _, d := range []string{from, to} {
		if _, err := time.Parse(central.Day, d); d != "" && err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("日期无效 / invalid date %q (want YYYY-MM-DD)", d))
			return "", "", false
		}
	}
	if from != "" && to != "" && from > to {
		writeError(w, http.StatusBadRequest, "起始日期晚于结束日期 / from is after to")
		return "", "", false
	}
	return from, to, true
}

// maxMeasureList bounds the order lists of one answer (late, disagreeing, presale); the counts
// beside them are whole.
const maxMeasureList = 1000

func capList[T any](s []T) []T { return s[:min(len(s), maxMeasureList)] }

// withOrders loads the orders (site from the query) and answers 500 on a store failure.
func (h *Hub) withOrders(w http.ResponseWriter, r *http.Request, fn func([]central.Order)) {
	var orders []central.Order
	err := h.db.View(r.Context(), func(tx Tx) (err error) {
		orders, err = centralOrders(tx, r.URL.Query().Get("site"))
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	fn(orders)
}

func (h *Hub) getKPI(w http.ResponseWriter, r *http.Request) {
	from, to, ok := dayRange(w, r)
	if !ok {
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = central.BySite
	}
	h.withOrders(w, r, func(orders []central.Order) {
		rep, err := h.measures.KPI(orders, by, r.URL.Query().Get("site"), from, to, h.clk.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, "分组无效 / "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

func (h *Hub) getKPILate(w http.ResponseWriter, r *http.Request) {
	from, to, ok := dayRange(w, r)
	if !ok {
		return
	}
	h.withOrders(w, r, func(orders []central.Order) {
		late := h.measures.Late(orders, r.URL.Query().Get("site"), from, to, h.clk.Now())
		w.Header().Set("X-Total-Count", strconv.Itoa(len(late))) // a list like GET /v1/agents; the header says whether it was cut
		writeJSON(w, http.StatusOK, capList(late))
	})
}

func (h *Hub) getConsistency(w http.ResponseWriter, r *http.Request) {
	h.withOrders(w, r, func(orders []central.Order) {
		c := h.measures.Consistency(orders, r.URL.Query().Get("site"), h.clk.Now())
		c.Orders = capList(c.Orders) // compared − agree says how many disagree in all
		writeJSON(w, http.StatusOK, c)
	})
}

func (h *Hub) getPresale(w http.ResponseWriter, r *http.Request) {
	h.withOrders(w, r, func(orders []central.Order) {
		p := h.measures.Presale(orders, r.URL.Query().Get("site"), h.clk.Now())
		p.AwaitingBalance, p.Suspect = capList(p.AwaitingBalance), capList(p.Suspect)
		writeJSON(w, http.StatusOK, p)
	})
}

func (h *Hub) getAnomalies(w http.ResponseWriter, r *http.Request) {
	from, to, ok := dayRange(w, r)
	if !ok {
		return
	}
	var counts []central.AnomalyCount
	err := h.db.View(r.Context(), func(tx Tx) (err error) {
		counts, err = anomalyCounts(tx, from, to)
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, h.measures.Anomalies(counts, r.URL.Query().Get("site"), from, to))
}

// startMeasures validates the measures' options (New fails on bad ones).
func (h *Hub) startMeasures() error {
	o := h.opts.Measures
	m, err := central.New(&o.Options)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	h.measures = m
	h.reportAt = o.ReportAt
	if h.reportAt == "" {
		h.reportAt = central.DefaultReportAt
	}
	if h.reportAt != "off" {
		if _, _, err := m.NextReport(h.clk.Now(), h.reportAt); err != nil {
			return fmt.Errorf("%w: %w", ErrOptions, err)
		}
	}
	return nil
}

// measuresRoutes adds the measures' endpoints (read scope).
func (h *Hub) measuresRoutes(need func(string, apitoken.Scope, http.HandlerFunc)) {
	need("GET /v1/kpi", apitoken.Read, h.getKPI)
	need("GET /v1/kpi/late", apitoken.Read, h.getKPILate)
	need("GET /v1/anomalies", apitoken.Read, h.getAnomalies)
	need("GET /v1/consistency", apitoken.Read, h.getConsistency)
	need("GET /v1/presale", apitoken.Read, h.getPresale)
	need("GET /v1/reports/daily/{date}", apitoken.Read, h.getDailyReport)
}
