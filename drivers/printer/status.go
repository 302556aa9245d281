package printer

import (
	"strconv"

	"wedge/drivers/printer/tspl"
	"wedge/drivers/printer/zpl"
)

// FromZPL maps ~HS and/or ~HQES replies (either may be nil) to a Status.
func FromZPL(hs *zpl.HostStatus, ew *zpl.ErrorsWarnings) Status {
	st := Status{LabelsRemaining: -1, FormatsInBuffer: -1}
	var fs faultSet
	if hs != nil {
		st.LabelsRemaining = hs.LabelsRemaining
		st.FormatsInBuffer = hs.FormatsInBuffer
		st.Printing = hs.FormatsInBuffer > 0 || hs.LabelsRemaining > 0 || hs.PartialFormat
		fs.add(hs.PaperOut, FaultPaperOut)
		fs.add(hs.Paused, FaultPaused)
		fs.add(hs.BufferFull, FaultBufferFull)
		fs.add(hs.OverTemperature, FaultOverTemperature)
		fs.add(hs.UnderTemperature || hs.CorruptRAM, FaultUnknown)
		fs.add(hs.HeadUp, FaultHeadOpen)
		fs.add(hs.RibbonOut, FaultRibbonOut)
	}
	if ew != nil {
		e := ew.Errors
		fs.add(e&zpl.ErrMediaOut != 0, FaultPaperOut)
		fs.add(e&zpl.ErrRibbonOut != 0, FaultRibbonOut)
		fs.add(e&zpl.ErrHeadOpen != 0, FaultHeadOpen)
		fs.add(e&(zpl.ErrCutterFault|zpl.ErrJamRetract|zpl.ErrPaperFeed|zpl.ErrClearPath) != 0, FaultJam)
		fs.add(e&(zpl.ErrHeadOverTemp|zpl.ErrMotorOverTemp) != 0, FaultOverTemperature)
		fs.add(e&zpl.ErrPaused != 0, FaultPaused)
		known := zpl.ErrMediaOut | zpl.ErrRibbonOut | zpl.ErrHeadOpen | zpl.ErrCutterFault | zpl.ErrJamRetract |
			zpl.ErrPaperFeed | zpl.ErrClearPath | zpl.ErrHeadOverTemp | zpl.ErrMotorOverTemp | zpl.ErrPaused
		fs.add(e&^known != 0 || ew.ErrorsHigh != 0 || (ew.AnyError && e == 0), FaultUnknown)
	}
	st.Faults = fs.list
	st.Ready = len(st.Faults) == 0 && !st.Printing
	return st
}

// FromTSPL maps <ESC>!? and/or <ESC>!S replies (either may be nil) to a Status. TSPL does not
// report buffer counts: LabelsRemaining and FormatsInBuffer are -1.
func FromTSPL(s *tspl.Status, e *tspl.Extended) Status {
	st := Status{LabelsRemaining: -1, FormatsInBuffer: -1}
	var fs faultSet
	if s != nil {
		fs.add(s.Has(tspl.BitHeadOpen), FaultHeadOpen)
		fs.add(s.Has(tspl.BitPaperJam), FaultJam)
		fs.add(s.Has(tspl.BitPaperOut), FaultPaperOut)
		fs.add(s.Has(tspl.BitRibbonOut), FaultRibbonOut)
		fs.add(s.Has(tspl.BitPause), FaultPaused)
		fs.add(s.Has(tspl.BitCoverOpen), FaultCoverOpen)
		fs.add(s.Has(tspl.BitTempRange), FaultOverTemperature)
		st.Printing = s.Has(tspl.BitPrinting)
	}
	if e != nil {
		switch e.Message {
		case tspl.MsgNormal, tspl.MsgWaitKey, tspl.MsgWaitTake:
		case tspl.MsgPause:
			fs.add(true, FaultPaused)
		case tspl.MsgBackingLabel, tspl.MsgCutting, tspl.MsgFormFeed, tspl.MsgPrinting, tspl.MsgImaging:
			st.Printing = true
		case tspl.MsgError:
			// The cause is in bytes 3 and 4; if they carry nothing we know, it is unknown.
			if e.Error1 == 0 && e.Error2 == 0 {
				fs.add(true, FaultUnknown)
			}
		default:
			fs.add(true, FaultUnknown)
		}
		fs.add(e.Warning&tspl.WarnBufferFull != 0, FaultBufferFull)
		fs.add(e.Error1&(tspl.ErrHeadOverheat|tspl.ErrMotorOverheat) != 0, FaultOverTemperature)
		fs.add(e.Error1&tspl.ErrCutterJam != 0, FaultJam)
		fs.add(e.Error1&^(tspl.ErrHeadOverheat|tspl.ErrMotorOverheat|tspl.ErrCutterJam) != 0, FaultUnknown)
		fs.add(e.Error2&tspl.ErrPaperEmpty != 0, FaultPaperOut)
		fs.add(e.Error2&tspl.ErrPaperJam != 0, FaultJam)
		fs.add(e.Error2&tspl.ErrRibbon != 0, FaultRibbonOut)
		fs.add(e.Error2&^(tspl.ErrPaperEmpty|tspl.ErrPaperJam|tspl.ErrRibbon) != 0, FaultUnknown)
	}
	st.Faults = fs.list
	st.Ready = len(st.Faults) == 0 && !st.Printing
	return st
}

type faultSet struct{ list []Fault }

func (s *faultSet) add(cond bool, f Fault) {
	if !cond {
		return
	}
	for _, x := range s.list {
		if x == f {
			return
		}
	}
	s.list = append(s.list, f)
}

func merge(a, b Status) Status {
	out := a
	var fs faultSet
	fs.list = append(fs.list, a.Faults...)
	for _, f := range b.Faults {
		fs.add(true, f)
	}
	out.Faults = fs.list
	out.Printing = a.Printing || b.Printing
	if b.LabelsRemaining >= 0 {
		out.LabelsRemaining = b.LabelsRemaining
	}
	if b.FormatsInBuffer >= 0 {
		out.FormatsInBuffer = b.FormatsInBuffer
	}
	out.Raw = a.Raw + b.Raw
	out.Ready = len(out.Faults) == 0 && !out.Printing
	return out
}

func quote(b []byte) string { s := strconv.Quote(string(b)); return s[1 : len(s)-1] }
