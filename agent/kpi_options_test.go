package agent

import (
	"reflect"
	"testing"

	"wedge/agent/config"
	"wedge/order/kpi"
)

// The configuration's KPI defaults are the calculator's own defaults, and the shifts the config
// accepts are shifts the calculator accepts.
func TestKPIOptionsFromConfig(t *testing.T) {
	c, err := config.Parse("t.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := kpiOptions(c.KPI)
	want := kpi.Options{Zone: kpi.DefaultZone, Within: kpi.DefaultWithin, Goal: kpi.DefaultGoal, Warn: kpi.DefaultWarn, Shifts: kpi.DefaultShifts}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("config defaults %+v, kpi defaults %+v", o, want)
	}
	c, err = config.Parse("t.yaml", []byte("site: s\nagent: a\nkpi: {shifts: [{name: a, start: \"06:00\", end: \"14:00\"}, {name: b, start: \"14:00\", end: \"22:00\"}, {name: c, start: \"22:00\", end: \"06:00\"}]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kpi.New(new(kpiOptions(c.KPI))); err != nil {
		t.Fatalf("shifts the config accepts are refused by kpi: %v", err)
	}
}
