package central

import (
	"sort"
	"time"
)

// Unclassified is the cause reported for a kind the table does not know (a newer agent's reason):
// counted and shown, never dropped.
const Unclassified Cause = "unclassified"

// AnomalyCount is a stored counter: n anomalies of kind at site in the hour starting at Hour (UTC).
type AnomalyCount struct {
	Hour time.Time
	Site string
	Kind string
	N    uint64
}

// HourKey is the stored form of an hour bucket, "2006-01-02T15" in UTC: it sorts by time.
func HourKey(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

// ParseHourKey reads an hour bucket.
func ParseHourKey(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02T15", s, time.UTC)
}

// AnomalyReport is GET /v1/anomalies.
type AnomalyReport struct {
	Causes []CauseInfo      `json:"causes"`
	Series []CauseDay       `json:"series"`
	BySite []CauseSite      `json:"by_site"`
	Kinds  []KindCount      `json:"kinds"` // the counts behind the causes
	From   string           `json:"from,omitempty"`
	To     string           `json:"to,omitempty"`
	Total  map[Cause]uint64 `json:"total"`
}

// CauseDay is one day's count of one cause (the day in the site's zone).
type CauseDay struct {
	Day   string `json:"day"`
	Cause Cause  `json:"cause"`
	Count uint64 `json:"count"`
}

// CauseSite is one site's count of one cause over the period.
type CauseSite struct {
	Site  string `json:"site"`
	Cause Cause  `json:"cause"`
	Count uint64 `json:"count"`
}

// KindCount is one kind's count over the period.
type KindCount struct {
	Kind  string `json:"kind"`
	Cause Cause  `json:"cause"`
	Count uint64 `json:"count"`
}

// Anomalies attributes the counters of site ("" = all) whose local day is from..to to causes.
func (m *Measures) Anomalies(counts []AnomalyCount, site, from, to string) AnomalyReport {
	rep := AnomalyReport{Causes: Causes, Series: []CauseDay{}, BySite: []CauseSite{}, Kinds: []KindCount{}, From: from, To: to, Total: map[Cause]uint64{}}
	days := map[CauseDay]uint64{}
	sites := map[CauseSite]uint64{}
	kinds := map[KindCount]uint64{}
	for _, c := range counts {
		if site != "" && c.Site != site || !inDays(c.Hour, m.SiteLocation(c.Site), from, to) {
			continue
		}
		cause, ok := CauseOf(c.Kind)
		if !ok {
			cause = Unclassified
		}
		days[CauseDay{Day: c.Hour.In(m.SiteLocation(c.Site)).Format(Day), Cause: cause}] += c.N
		sites[CauseSite{Site: c.Site, Cause: cause}] += c.N
		kinds[KindCount{Kind: c.Kind, Cause: cause}] += c.N
		rep.Total[cause] += c.N
	}
	for k, n := range days {
		k.Count = n
		rep.Series = append(rep.Series, k)
	}
	for k, n := range sites {
		k.Count = n
		rep.BySite = append(rep.BySite, k)
	}
	for k, n := range kinds {
		k.Count = n
		rep.Kinds = append(rep.Kinds, k)
	}
	sort.Slice(rep.Series, func(i, j int) bool {
		a, b := rep.Series[i], rep.Series[j]
		return a.Day < b.Day || a.Day == b.Day && a.Cause < b.Cause
	})
	sort.Slice(rep.BySite, func(i, j int) bool {
		a, b := rep.BySite[i], rep.BySite[j]
		return a.Site < b.Site || a.Site == b.Site && a.Cause < b.Cause
	})
	sort.Slice(rep.Kinds, func(i, j int) bool { return rep.Kinds[i].Kind < rep.Kinds[j].Kind })
	return rep
}
