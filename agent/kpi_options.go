package agent

import (
	"wedge/agent/config"
	"wedge/order/kpi"
)

// kpiOptions turns the kpi section of the configuration (plain data, defaults filled) into the KPI
// calculator's options.
func kpiOptions(k config.KPI) kpi.Options {
	o := kpi.Options{Zone: k.Zone, Within: k.Within.D(), Goal: k.Goal, Warn: k.Warn}
	for _, s := range k.Shifts {
		o.Shifts = append(o.Shifts, kpi.Shift{Name: s.Name, NameZH: s.NameZH, Start: s.Start, End: s.End})
	}
	return o
}
