package config

// setDefaults fills every zero or absent field that has a documented default. It is the one place
// defaults are set; validate runs after it and only reports.
func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.PairWindow == 0 {
		c.PairWindow = Duration(DefaultPairWindow)
	}
	if c.OperatorPattern == "" {
		c.OperatorPattern = DefaultOperatorPattern
	}
	if c.Contract.DefaultOrderNoPattern == "" {
		c.Contract.DefaultOrderNoPattern = DefaultOrderNoPattern
	}
	if c.ReprintCode == "" {
		c.ReprintCode = DefaultReprintCode
	}
	if c.Broker.URL == "" {
		c.Broker.URL = DefaultBrokerURL
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultAPIListen
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Kind == "" {
			d.Kind = KindScanner
		}
		if d.Kind == KindPrinter && d.LabelSize == "" {
			d.LabelSize = DefaultLabelSize
		}
	}

	b := &c.Breaker
	if b.MaxBacklog == 0 {
		b.MaxBacklog = DefaultMaxBacklog
	}
	if b.MaxAvgWait == 0 {
		b.MaxAvgWait = Duration(DefaultMaxAvgWait)
	}
	if b.CloseRatio == 0 {
		b.CloseRatio = DefaultCloseRatio
	}
	if b.CloseAfter == 0 {
		b.CloseAfter = Duration(DefaultCloseAfter)
	}
	if c.OverdueAfter == 0 {
		c.OverdueAfter = Duration(DefaultOverdueAfter)
	}
	if c.Intake.LatencyAlert == 0 {
		c.Intake.LatencyAlert = Duration(DefaultLatencyAlert)
	}
	k := &c.KPI
	if k.Zone == "" {
		k.Zone = DefaultKPIZone
	}
	if k.Within == 0 {
		k.Within = Duration(DefaultKPIWithin)
	}
	if k.Goal == 0 {
		k.Goal = DefaultKPIGoal
	}
	if k.Warn == 0 {
		k.Warn = DefaultKPIWarn
	}
	if len(k.Shifts) == 0 {
		k.Shifts = DefaultKPIShifts()
	}
}
