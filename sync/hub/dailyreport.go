package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/mail"
	"wedge/sync/hub/central"
)

// The daily consistency report: written at MeasuresOptions.ReportAt for the previous day, stored
// as a Meta document, served by GET /v1/reports/daily/{date} and mailed through the Mailer.

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
