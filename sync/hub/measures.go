package hub

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/mail"
	"wedge/sync/apitoken"
	"wedge/sync/hub/central"
	"wedge/sync/wire"
)

// The central measures (sync/hub/central) on the hub's records: the anomaly counters the owner
// keeps, the read endpoints (GET /v1/kpi, /v1/kpi/late, /v1/anomalies, /v1/consistency,
// /v1/presale, /v1/reports/daily/{date}) and the daily report.

// MeasuresOptions configure the measures and the daily report (zero = defaults).
type MeasuresOptions struct {
	central.Options
	// ReportAt is when the daily report of the previous day is written, "HH:MM" in the network's
	// zone (default central.DefaultReportAt, 10:00). "off" writes none.
	ReportAt string
	// Mailer sends the daily report when set (e.g. a mail.Config).
	Mailer Mailer
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
	var out []central.Order
	err := tx.OrderRecords("", func(id string, doc []byte) (bool, error) {
		rec, err := decodeOrder([]byte(id), doc)
		if err != nil || site != "" && rec.Site != site {
			return err == nil, err
		}
		o := rec.Order
		out = append(out, central.Order{ID: id, Site: rec.Site, Channel: o.Channel, Carrier: o.Carrier, Payment: o.Payment, State: o.State,
			PaidAt: o.PaidAt, CreatedAt: parseWire(rec.CreatedAt), UpdatedAt: parseWire(rec.UpdatedAt), BalancePaidAt: parseWire(rec.BalancePaidAt)})
		return true, nil
	})
	for i := range out {
		if err != nil {
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

func centralEntry(se storedEntry) central.Entry {
	e := se.Entry
	return central.Entry{Site: se.Site, Agent: se.Agent, Journal: e.JournalID, Seq: e.Seq, Kind: e.Kind, From: e.From, To: e.To,
		Trigger: e.Trigger, Reason: e.Reason, Detail: e.Detail, Operator: e.Operator, Station: e.Station,
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
		writeJSON(w, http.StatusOK, map[string]any{"orders": capList(late), "count": len(late), "truncated": len(late) > maxMeasureList})
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

// reportKey is the Meta document of a day's report.
func reportKey(day string) string { return "report/daily/" + day }

func (h *Hub) getDailyReport(w http.ResponseWriter, r *http.Request) {
	day := r.PathValue("date")
	if _, err := time.Parse(central.Day, day); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("日期无效 / invalid date %q (want YYYY-MM-DD)", day))
		return
	}
	var rep central.DailyReport
	var found bool
	err := h.db.View(r.Context(), func(tx Tx) (err error) {
		found, err = getDoc(tx.Meta(reportKey(day)))("daily report "+day, &rep)
		return err
	})
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "读取失败 / store read failed: "+err.Error())
		return
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("没有 %s 的日报 / no daily report for %s", day, day))
		return
	}
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="daily-`+day+`.csv"`)
		_, _ = w.Write(rep.CSV())
		return
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(rep.HTML())
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

// startReports starts the daily report's goroutine; Stop waits for it before the store closes.
func (h *Hub) startReports() {
	h.reportDone = make(chan struct{})
	if h.reportAt == "off" {
		close(h.reportDone)
		return
	}
	go h.reportLoop(h.reportAt)
}

// Retries of a daily report whose e-mail failed (or whose store failed): every reportRetry, at most
// reportRetries times, then it waits for the next day's.
const (
	reportRetry   = 15 * time.Minute
	reportRetries = 8
)

// reportLoop writes the previous day's report at each due time until the hub stops. At start it
// first writes the report of the last due time if that was missed (the hub was down at 10:00) and
// the day had anything to report.
func (h *Hub) reportLoop(at string) {
	defer close(h.reportDone)
	due, day, _ := h.measures.NextReport(h.clk.Now(), at)
	missed := due.AddDate(0, 0, -2).Format(central.Day)
	if !h.reportWithRetries(missed, true) {
		return
	}
	for {
		if !h.sleep(due.Sub(h.clk.Now())) {
			return
		}
		if !h.reportWithRetries(day, false) {
			return
		}
		due, day, _ = h.measures.NextReport(h.clk.Now(), at)
	}
}

// reportWithRetries writes (and mails) day's report, retrying a failure; false when the hub stops.
func (h *Hub) reportWithRetries(day string, catchUp bool) bool {
	for try := 1; ; try++ {
		err := h.writeDailyReport(context.Background(), day, catchUp)
		if err == nil {
			return true
		}
		h.log.Error("日报未完成 / daily report not done", "day", day, "try", try, logging.Err(err))
		if try > reportRetries {
			return true
		}
		if !h.sleep(reportRetry) {
			return false
		}
	}
}

// sleep waits d on the hub's clock; false when the hub stops first.
func (h *Hub) sleep(d time.Duration) bool {
	t := h.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.quit:
		return false
	case <-t.C():
		return true
	}
}

// storedReport is a daily report as the store keeps it (Meta report/daily/DAY): the report, and
// whether its e-mail went out.
type storedReport struct {
	central.DailyReport
	Mailed bool `json:"mailed,omitempty"`
}

// WriteDailyReport builds and stores the report of day (network zone) unless it is stored already,
// records the day's state mismatches as anomalies, and mails it when a Mailer is set and it has not
// been mailed yet. A stored report is never rebuilt: what was sent is what is served.
func (h *Hub) WriteDailyReport(ctx context.Context, day string) error {
	return h.writeDailyReport(ctx, day, false)
}

// writeDailyReport is WriteDailyReport; with skipEmpty, a day without orders, late orders or
// anomalies gets no report (a catch-up at start must not invent an empty day before the first).
func (h *Hub) writeDailyReport(ctx context.Context, day string, skipEmpty bool) error {
	var rep storedReport
	fresh := false
	err := h.db.Update(ctx, func(tx Tx) error {
		if ok, err := getDoc(tx.Meta(reportKey(day)))("daily report", &rep); err != nil || ok {
			return err
		}
		orders, err := centralOrders(tx, "")
		if err != nil {
			return err
		}
		counts, err := anomalyCounts(tx, day, day)
		if err != nil {
			return err
		}
		now := h.clk.Now()
		if skipEmpty && emptyDay(h.measures.Daily(central.ReportInput{Day: day, Orders: orders, Anomalies: counts, Now: now})) {
			return nil
		}
		// The disagreements at writing time count as that day's state mismatches, at its noon (the
		// same day in every site's zone within 12 h of the network's).
		start, _ := central.ParseDay(day, h.measures.Location())
		noon := start.Add(12 * time.Hour).UTC()
		for _, d := range h.measures.Consistency(orders, "", now).Orders {
			if err := tx.AddAnomalies(central.HourKey(noon), d.Site, central.KindStateMismatch, 1); err != nil {
				return err
			}
			counts = append(counts, central.AnomalyCount{Hour: noon.Truncate(time.Hour), Site: d.Site, Kind: central.KindStateMismatch, N: 1})
		}
		rep, fresh = storedReport{DailyReport: h.measures.Daily(central.ReportInput{Day: day, Orders: orders, Anomalies: counts, Now: now})}, true
		return tx.PutMeta(reportKey(day), mustJSON(rep))
	})
	if err == nil && fresh {
		h.log.Info("日报已生成 / daily report written", "day", day, "consistency", rep.Total.Consistency)
	}
	if err != nil || !fresh && rep.Day == "" || rep.Mailed || h.opts.Measures.Mailer == nil {
		return err // (no report: an empty day skipped)
	}
	if err := h.opts.Measures.Mailer.Send(ctx, reportMail(rep.DailyReport)); err != nil {
		return fmt.Errorf("report stored, e-mail not sent: %w", err)
	}
	return h.db.Update(ctx, func(tx Tx) error {
		rep.Mailed = true
		return tx.PutMeta(reportKey(day), mustJSON(rep))
	})
}

// emptyDay: nothing came in, nothing was late, nothing went wrong that day.
func emptyDay(r central.DailyReport) bool {
	for _, n := range r.Total.Anomalies {
		if n > 0 {
			return false
		}
	}
	return r.Total.OrdersIn == 0 && r.Total.Late == 0
}

// reportMail is the daily report's e-mail: a summary, the page, the CSV attached.
func reportMail(rep central.DailyReport) mail.Message {
	t := rep.Total
	return mail.Message{
		Subject: fmt.Sprintf("每日一致性报告 %s / Daily consistency report %s", rep.Day, rep.Day),
		Text: fmt.Sprintf("%s 状态一致率 %.2f%%，揽收超时 %d，滞留 %d。详见附件。\nConsistency %.2f%%, late %d, stuck %d. See the attachment.",
			rep.Day, t.Consistency*100, t.Late, t.Stuck, t.Consistency*100, t.Late, t.Stuck),
		HTML:        rep.HTML(),
		Attachments: []mail.Attachment{{Name: "daily-" + rep.Day + ".csv", ContentType: "text/csv; charset=utf-8", Data: rep.CSV()}},
	}
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
