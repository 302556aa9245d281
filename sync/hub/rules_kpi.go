package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"wedge/internal/logging"
	"wedge/internal/msgtmpl"
	"wedge/sync/hub/central"
)

// The KPI warning. At every tick of the periodic rules, each site with a KPIWarningRule has its
// pickup KPI of the day computed as GET /v1/kpi computes it: the orders paid today in the site's
// zone whose 4-hour deadline has passed (picked up on time, or late), the share on time; orders
// still inside their deadline are not in the rate. With at least MinOrders counted and the rate
// under Warn, the site's supervisors get one notice; the rule is armed again only when the rate is
// back at or above Warn (hysteresis), or on the site's next day. The state (day, notices sent,
// below or not) is a Meta document per site, decided under LockKey, and each notice's key names
// the day and its number, so neither ticks nor replicas repeat it.

// KPIWarningRule tells a site's supervisors when the site's pickup KPI of the day falls under
// Warn. Zero fields take the defaults.
type KPIWarningRule struct {
	Channel string
	// Warn and Goal are the levels (0 = the measures' pickup_warn and pickup_goal: 85 %, 92 %).
	Warn, Goal float64
	// MinOrders is how many orders must be counted (due and judged) before the rate can warn
	// (default DefaultKPIMinOrders): one late order out of two pages nobody.
	MinOrders int
	Text      *msgtmpl.Template // nil: DefaultKPIWarningText (fields KPIFields)
}

// DefaultKPIMinOrders is KPIWarningRule.MinOrders's default.
const DefaultKPIMinOrders = 20

// DefaultKPIWarningText is the KPI warning's text when a site sets none.
const DefaultKPIWarningText = "【wedge】{{site}} 今日（{{day}}）揽收时效达标率 {{rate}}，低于预警线 {{warn}}（目标 {{goal}}）：" +
	"已到期 {{counted}} 单中 {{on_time}} 单在付款后 {{within}} 内揽收，{{late}} 单超时，另有 {{open}} 单未到期 / " +
	"pickup KPI of {{day}} is {{rate}}, under the warning level {{warn}} (goal {{goal}}): {{on_time}} of the {{counted}} orders " +
	"due so far were picked up within {{within}} of payment, {{late}} late; {{open}} not due yet"

var defaultKPIWarning = msgtmpl.MustParse(DefaultKPIWarningText, KPIFields)

// kpiWarnState is a site's Meta document "rules/kpi_warning/SITE".
type kpiWarnState struct {
	Day   string `json:"day"`   // the site's day it is about
	Sent  int    `json:"sent"`  // notices queued that day (the next one's number is Sent+1)
	Below bool   `json:"below"` // the last notice's dip has not recovered yet: disarmed
}

func kpiWarnKey(site string) string { return "rules/kpi_warning/" + site }

// shortDuration drops a Go duration's zero tail for people: "4h0m0s" → "4h", "1h30m0s" → "1h30m".
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// kpiWarnings runs the KPI warning of every site with the rule among orders.
func (h *Hub) kpiWarnings(ctx context.Context, orders []central.Order, now time.Time) error {
	var sites []string
	for _, o := range orders {
		if h.notify.rules(o.Site).KPIWarning != nil && !slices.Contains(sites, o.Site) {
			sites = append(sites, o.Site)
		}
	}
	slices.Sort(sites)
	var errs []error
	for _, site := range sites {
		if err := h.kpiWarning(ctx, site, orders, now); err != nil {
			errs = append(errs, fmt.Errorf("site %s: KPI warning: %w", site, err))
		}
	}
	return errors.Join(errs...)
}

// kpiLevels are a rule's warning level, goal and minimum count with the defaults filled in.
func (h *Hub) kpiLevels(r *KPIWarningRule) (warn, goal float64, minOrders int) {
	goal, warn = h.measures.Goal()
	if r.Goal > 0 {
		goal = r.Goal
	}
	if r.Warn > 0 {
		warn = r.Warn
	}
	minOrders = r.MinOrders
	if minOrders <= 0 {
		minOrders = DefaultKPIMinOrders
	}
	return warn, goal, minOrders
}

func (h *Hub) kpiWarning(ctx context.Context, site string, orders []central.Order, now time.Time) error {
	rule := h.notify.rules(site).KPIWarning
	warn, goal, minOrders := h.kpiLevels(rule)
	day := now.In(h.measures.SiteLocation(site)).Format(central.Day)
	rep, err := h.measures.KPI(orders, central.BySite, site, day, day, now)
	if err != nil {
		return err
	}
	r := rep.Total
	counted := r.PickedOnTime + r.Late
	added := false
	err = h.db.Update(ctx, func(tx Tx) error {
		key := kpiWarnKey(site)
		if err := tx.LockKey(key); err != nil {
			return err
		}
		var st kpiWarnState
		if _, err := getDoc(tx.Meta(key))("KPI warning state "+site, &st); err != nil {
			return err
		}
		if st.Day != day {
			st = kpiWarnState{Day: day} // a new day: armed
		}
		before := st
		switch {
		case counted < minOrders: // too few to judge: the state stays as it is
		case r.Rate < warn && !st.Below:
			st.Sent, st.Below = st.Sent+1, true
			pct := func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }
			fields := map[string]string{"site": site, "day": day, "rate": pct(r.Rate), "warn": pct(warn), "goal": pct(goal),
				"within": shortDuration(rep.Within), "counted": strconv.Itoa(counted), "on_time": strconv.Itoa(r.PickedOnTime),
				"late": strconv.Itoa(r.Late), "open": strconv.Itoa(r.Open)}
			text := rule.Text
			if text == nil {
				text = defaultKPIWarning
			}
			k := OutboxKey{Site: site, Order: "kpi:" + day, Rule: fmt.Sprintf("%s#%d", NoticeKPIWarning, st.Sent)}
			var err error
			added, err = tx.AddOutbox(OutboxRow{OutboxKey: k, State: OutboxPending, Due: now.UTC(), Doc: mustJSON(noticeDoc{
				Kind: NoticeKPIWarning, Channel: rule.Channel, Text: text.Render(fields, nil), Fields: fields, Created: now.UTC()})})
			if err != nil {
				return err
			}
		case r.Rate >= warn && st.Below:
			st.Below = false // recovered: armed again
			h.log.Info("揽收时效已回到预警线以上 / pickup KPI back at or above its warning level", logging.KeySite, site, "day", day, "rate", r.Rate)
		}
		if st == before {
			return nil
		}
		return tx.PutMeta(key, mustJSON(st))
	})
	if err == nil && added {
		h.log.Warn("揽收时效低于预警线，已通知 / pickup KPI under its warning level: supervisors notified", logging.KeySite, site,
			"day", day, "rate", r.Rate, "warn", warn, "counted", counted)
		if h.dispatch != nil {
			h.dispatch.kick()
		}
	}
	return err
}
