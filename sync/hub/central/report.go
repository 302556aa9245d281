package central

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"time"

	"wedge/order"
)

// DefaultStuck: an order not yet picked up or cancelled whose state has not moved for this long
// at report time is stuck.
const DefaultStuck = 24 * time.Hour

// SiteDay is one site's line of the daily report.
type SiteDay struct {
	Site        string           `json:"site"`
	OrdersIn    int              `json:"orders_in"` // orders the hub first heard of that day (site zone)
	PerState    map[string]int   `json:"per_state"` // their states at report time
	Late        int              `json:"late"`      // paid that day, past the pickup deadline
	Stuck       int              `json:"stuck"`     // any day's orders whose state has not moved for DefaultStuck
	Anomalies   map[Cause]uint64 `json:"anomalies"` // that day's, by cause
	Compared    int              `json:"compared"`
	Agree       int              `json:"agree"`
	Consistency float64          `json:"consistency"`
}

// DailyReport is the daily consistency report of one day.
type DailyReport struct {
	Day         string    `json:"day"`
	Zone        string    `json:"zone"`
	GeneratedAt string    `json:"generated_at"`
	Sites       []SiteDay `json:"sites"`
	Total       SiteDay   `json:"total"`
	Level       string    `json:"level"` // of the total consistency
}

// ReportInput is what the report is made of.
type ReportInput struct {
	Day       string // "YYYY-MM-DD" in the network's zone
	Orders    []Order
	Anomalies []AnomalyCount
	Now       time.Time
}

// Daily builds the report of in.Day at in.Now.
func (m *Measures) Daily(in ReportInput) DailyReport {
	rep := DailyReport{Day: in.Day, Zone: m.Location().String(), GeneratedAt: in.Now.UTC().Format(time.RFC3339), Sites: []SiteDay{}}
	sites := map[string]*SiteDay{}
	get := func(s string) *SiteDay {
		if sites[s] == nil {
			sites[s] = &SiteDay{Site: s, PerState: map[string]int{}, Anomalies: map[Cause]uint64{}}
		}
		return sites[s]
	}
	for _, o := range in.Orders {
		loc := m.SiteLocation(o.Site)
		if !o.CreatedAt.IsZero() && inDays(o.CreatedAt, loc, in.Day, in.Day) {
			s := get(o.Site)
			s.OrdersIn++
			s.PerState[string(o.State)]++
		}
		if stuck(o, in.Now) {
			get(o.Site).Stuck++
		}
	}
	for _, l := range m.Late(in.Orders, "", in.Day, in.Day, in.Now) {
		get(l.Site).Late++
	}
	for _, c := range m.Anomalies(in.Anomalies, "", in.Day, in.Day).BySite {
		get(c.Site).Anomalies[c.Cause] += c.Count
	}
	for _, c := range m.Consistency(in.Orders, "", in.Now).Sites {
		s := get(c.Site)
		s.Compared, s.Agree = c.Compared, c.Agree
	}
	t := SiteDay{Site: "total", PerState: map[string]int{}, Anomalies: map[Cause]uint64{}}
	for _, s := range sites {
		s.Consistency, _ = m.ratio(s.Agree, s.Compared)
		rep.Sites = append(rep.Sites, *s)
		t.OrdersIn, t.Late, t.Stuck, t.Compared, t.Agree = t.OrdersIn+s.OrdersIn, t.Late+s.Late, t.Stuck+s.Stuck, t.Compared+s.Compared, t.Agree+s.Agree
		for k, v := range s.PerState {
			t.PerState[k] += v
		}
		for k, v := range s.Anomalies {
			t.Anomalies[k] += v
		}
	}
	t.Consistency, rep.Level = m.ratio(t.Agree, t.Compared)
	rep.Total = t
	sort.Slice(rep.Sites, func(i, j int) bool { return rep.Sites[i].Site < rep.Sites[j].Site })
	return rep
}

// stuck: not picked up, cancelled or awaiting the balance, and its state has not moved for
// DefaultStuck (by the latest entry of its history, else the hub's last change).
func stuck(o Order, now time.Time) bool {
	switch o.State {
	case order.PickedUp, order.Cancelled, order.AwaitingBalance, "":
		return false
	}
	last := o.UpdatedAt
	for _, e := range o.History {
		if e.To != "" && e.At.After(last) {
			last = e.At
		}
	}
	return !last.IsZero() && now.Sub(last) > DefaultStuck
}

// csvHeader is the CSV's first line; the state and cause columns follow order.States and Causes.
func csvHeader() []string {
	h := []string{"day", "site", "orders_in"}
	for _, s := range order.States {
		h = append(h, string(s))
	}
	h = append(h, "late", "stuck")
	for _, c := range Causes {
		h = append(h, "anomalies_"+string(c.Cause))
	}
	return append(h, "compared", "agree", "consistency")
}

func (r DailyReport) csvRow(s SiteDay) []string {
	row := []string{r.Day, s.Site, strconv.Itoa(s.OrdersIn)}
	for _, st := range order.States {
		row = append(row, strconv.Itoa(s.PerState[string(st)]))
	}
	row = append(row, strconv.Itoa(s.Late), strconv.Itoa(s.Stuck))
	for _, c := range Causes {
		row = append(row, strconv.FormatUint(s.Anomalies[c.Cause], 10))
	}
	return append(row, strconv.Itoa(s.Compared), strconv.Itoa(s.Agree), strconv.FormatFloat(s.Consistency, 'f', 4, 64))
}

// CSV is the report as CSV: a header, one line per site, then the total.
func (r DailyReport) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(csvHeader())
	for _, s := range r.Sites {
		_ = w.Write(r.csvRow(s))
	}
	_ = w.Write(r.csvRow(r.Total))
	w.Flush()
	return b.Bytes()
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f%%", f*100) },
	"state": func(s order.State) string { return s.LabelZH() + " " + s.LabelEN() },
	"count": func(m map[string]int, s order.State) int { return m[string(s)] },
	"cause": func(m map[Cause]uint64, c Cause) uint64 { return m[c] },
}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>每日一致性报告 Daily consistency report {{.R.Day}}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:right}th{background:#eee}.bad{color:#b00}.warn{color:#b60}</style></head>
<body><h1>每日一致性报告 {{.R.Day}} <small>Daily consistency report</small></h1>
<p>时区 Zone: {{.R.Zone}} · 生成时间 Generated: {{.R.GeneratedAt}} · 状态一致率 Consistency: <b class="{{.R.Level}}">{{pct .R.Total.Consistency}}</b></p>
<table><tr><th>仓库 Site</th><th>进单 Orders in</th>{{range .States}}<th>{{state .}}</th>{{end}}<th>揽收超时 Late</th><th>滞留 Stuck</th>{{range .Causes}}<th>{{.ZH}}<br>{{.EN}}</th>{{end}}<th>状态一致率 Consistency</th></tr>
{{range .Rows}}<tr><th>{{.Site}}</th><td>{{.OrdersIn}}</td>{{$s := .}}{{range $.States}}<td>{{count $s.PerState .}}</td>{{end}}<td>{{.Late}}</td><td>{{.Stuck}}</td>{{range $.Causes}}<td>{{cause $s.Anomalies .Cause}}</td>{{end}}<td>{{pct .Consistency}} ({{.Agree}}/{{.Compared}})</td></tr>
{{end}}</table></body></html>
`))

// HTML is the report as a page, Chinese first.
func (r DailyReport) HTML() []byte {
	var b bytes.Buffer
	rows := append(append([]SiteDay(nil), r.Sites...), r.Total)
	if err := reportHTML.Execute(&b, map[string]any{"R": r, "Rows": rows, "States": order.States, "Causes": Causes}); err != nil {
		return []byte("report: " + err.Error()) // the template is fixed; a failure is a bug, shown rather than hidden
	}
	return b.Bytes()
}

// NextReport is the first time after now at which the report is due (at = "HH:MM" in the network's
// zone) and the day it reports (the day before, in that zone).
func (m *Measures) NextReport(now time.Time, at string) (time.Time, string, error) {
	hh, mm, err := parseHHMM(at)
	if err != nil {
		return time.Time{}, "", err
	}
	l := now.In(m.Location())
	due := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, m.Location())
	if !due.After(now) {
		due = time.Date(l.Year(), l.Month(), l.Day()+1, hh, mm, 0, 0, m.Location())
	}
	return due, due.AddDate(0, 0, -1).Format(Day), nil
}

func parseHHMM(s string) (int, int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: report time %q (want HH:MM)", ErrConfig, s)
	}
	return t.Hour(), t.Minute(), nil
}
