package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/mail"
	"wedge/order"
	"wedge/sync/hub/central"
)

// The daily consistency report: written at MeasuresOptions.ReportAt for the previous day, stored
// as a Meta document, served by GET /v1/reports/daily/{date} and mailed through the Mailer by the
// notification outbox.

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

// startReports starts the daily report's goroutine; Stop waits for it before the store closes.
func (h *Hub) startReports() {
	h.reportDone = make(chan struct{})
	if h.reportAt == "off" {
		close(h.reportDone)
		return
	}
	go h.reportLoop(h.reportAt)
}

// Retries of a daily report the store could not write: every reportRetry, at most reportRetries
// times, then it waits for the next day's. (Its e-mail is retried by the outbox.)
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

// storedReport is a daily report as the store keeps it (Meta report/daily/DAY). Mailed is set by
// releases that mailed the report themselves; the outbox row (reportOutboxKey) tells now.
type storedReport struct {
	central.DailyReport
	Mailed bool `json:"mailed,omitempty"`
}

// The report's e-mail is an outbox row (site "*", subject "report:DAY", rule daily_report), sent by
// the notification dispatcher through the reportChannel: retried with backoff, leased so one
// replica sends it, never sent again once its success is recorded, and listed with the other
// notifications. The row is made in the transaction that stores the report, and it doubles as the
// day's lock: on PostgreSQL a second replica's insert of the same row waits for the first
// replica's transaction and then finds the row, so the report is built, its state mismatches
// counted and its e-mail queued once across replicas.
const (
	NoticeDailyReport = "daily_report"
	// reportChannel is the dispatcher's channel for the report; '@' keeps it apart from the
	// channel names hub.yaml can give.
	reportChannel = "@daily-report"
)

func reportOutboxKey(day string) OutboxKey {
	return OutboxKey{Site: "*", Order: "report:" + day, Rule: NoticeDailyReport}
}

// errEmptyDay rolls back the transaction of a day that gets no report (and no outbox row).
var errEmptyDay = errors.New("hub: nothing to report that day")

// WriteDailyReport builds and stores the report of day (network zone) unless it is stored already,
// records the day's state mismatches as anomalies, and queues its e-mail when a Mailer is set. A
// stored report is never rebuilt: what was sent is what is served.
func (h *Hub) WriteDailyReport(ctx context.Context, day string) error {
	return h.writeDailyReport(ctx, day, false)
}

// writeDailyReport is WriteDailyReport; with skipEmpty, a day without orders, late orders or
// anomalies gets no report (a catch-up at start must not invent an empty day before the first).
func (h *Hub) writeDailyReport(ctx context.Context, day string, skipEmpty bool) error {
	start, err := central.ParseDay(day, h.measures.Location())
	if err != nil {
		return fmt.Errorf("daily report: %w", err)
	}
	// The orders are read in a read transaction first: reading them and their histories takes
	// long on a large store, and inside the write transaction it held bbolt's only writer (every
	// site's sync waited) or a PostgreSQL transaction for that long. The write transaction below
	// decides, stores and queues; a report already stored is found there again.
	var orders []central.Order
	stored := false
	err = h.db.View(ctx, func(tx Tx) error {
		ok, err := getDoc(tx.Meta(reportKey(day)))("daily report", &storedReport{})
		if err != nil || ok {
			stored = ok
			return err
		}
		orders, err = centralOrdersWhere(tx, reportScope(start))
		return err
	})
	if err != nil {
		return err
	}
	var rep storedReport
	fresh, queued := false, false
	err = h.db.Update(ctx, func(tx Tx) error {
		now := h.clk.Now()
		ok, err := getDoc(tx.Meta(reportKey(day)))("daily report", &rep)
		if err != nil {
			return err
		}
		if ok { // stored already (by this hub earlier, another replica, or an older release)
			if !rep.Mailed {
				queued, err = h.queueReportMail(tx, day, now)
			}
			return err
		}
		if stored {
			return fmt.Errorf("daily report %s: stored when read, gone when written", day)
		}
		if queued, err = h.queueReportMail(tx, day, now); err != nil || !queued {
			return err // (not queued: another replica wrote the day meanwhile)
		}
		counts, err := anomalyCounts(tx, day, day)
		if err != nil {
			return err
		}
		if skipEmpty && emptyDay(h.measures.Daily(central.ReportInput{Day: day, Orders: orders, Anomalies: counts, Now: now})) {
			return errEmptyDay
		}
		// The disagreements at writing time count as that day's state mismatches, at its noon (the
		// same day in every site's zone within 12 h of the network's).
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
	if errors.Is(err, errEmptyDay) {
		return nil
	}
	if err == nil && fresh {
		h.log.Info("日报已生成 / daily report written", "day", day, "consistency", rep.Total.Consistency)
	}
	if err == nil && queued && h.dispatch != nil {
		h.dispatch.kick()
	}
	return err
}

// reportMargin widens the report's scope to orders the hub finished up to this long before the
// day began in the network's zone: a site's zone differs by up to 14 h, and an order's payment
// or creation, stamped by other clocks, can precede the hub's record of it.
const reportMargin = 48 * time.Hour

// reportScope is the orders the report of the day starting at dayStart reads: every order still
// open (not 已揽收 or 已取消), and the finished ones the hub created or changed since dayStart
// less reportMargin. That is every order the day's figures can count: orders in that day (created
// in it), late ones (paid in it: finished after their payment), stuck ones (open), and the state
// comparison of the open orders and of those finished since. Orders finished before were compared
// by the reports of their own days; reading them again made each day's report read every order
// ever stored with its history (10 million orders: more than 12 minutes and 13 GB of memory).
func reportScope(dayStart time.Time) func(orderRec) bool {
	since := dayStart.Add(-reportMargin)
	return func(rec orderRec) bool {
		switch rec.Order.State {
		case order.PickedUp, order.Cancelled:
			return !parseWire(rec.UpdatedAt).Before(since) || !parseWire(rec.CreatedAt).Before(since)
		}
		return true
	}
}

// queueReportMail adds day's e-mail row unless it exists; it reports whether it added it. Without
// a Mailer the row is stored cancelled, so the day is still claimed once and the notifications
// list says why nothing was mailed.
func (h *Hub) queueReportMail(tx Tx, day string, now time.Time) (bool, error) {
	d := noticeDoc{Kind: NoticeDailyReport, Channel: reportChannel, Fields: map[string]string{"day": day}, Created: now.UTC(),
		Text: fmt.Sprintf("每日一致性报告 %s / Daily consistency report %s", day, day)}
	state := OutboxPending
	if h.opts.Measures.Mailer == nil {
		state, d.Why = OutboxCancelled, "未配置邮件服务器 / no SMTP relay configured (smtp.host)"
	}
	return tx.AddOutbox(OutboxRow{OutboxKey: reportOutboxKey(day), State: state, Due: now, Doc: mustJSON(d)})
}

// reportMailer is the dispatcher's channel for the daily report: it mails the stored report (the
// page, the CSV attached) with the row's idempotency key as its Message-ID.
type reportMailer struct{ h *Hub }

func (c reportMailer) Deliver(ctx context.Context, n Notice) error {
	day := n.Fields["day"]
	var rep storedReport
	var found bool
	err := c.h.db.View(ctx, func(tx Tx) (err error) {
		found, err = getDoc(tx.Meta(reportKey(day)))("daily report "+day, &rep)
		return err
	})
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("%w: 没有 %s 的日报 / no daily report stored for %q", ErrPermanent, day, day)
	}
	m := reportMail(rep.DailyReport)
	m.ID = n.ID
	if err := c.h.opts.Measures.Mailer.Send(ctx, m); err != nil {
		if permanentMailError(err) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	}
	return nil
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
