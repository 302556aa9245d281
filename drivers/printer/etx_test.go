package printer_test

import (
	"context"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"wedge/drivers/printer"
	"wedge/drivers/printer/emulator"
	"wedge/drivers/printer/jobscan"
	"wedge/drivers/printer/label"
	"wedge/drivers/printer/printertest"
	"wedge/drivers/printer/transport"
	"wedge/drivers/profile"
)

// The conformance suite holds for printers whose replies end at ETX, without the CR LF, and for
// printers whose CR LF comes after the reply was taken.
func TestConformanceETXEndings(t *testing.T) {
	for _, end := range []struct {
		name string
		e    emulator.Ending
	}{{"etx-only", emulator.EndETX}, {"late-crlf", emulator.EndETXLateCRLF}} {
		for _, c := range []struct {
			name string
			kind string
			pr   profile.Profile
		}{
			{"zpl-hs+hqes/tcp", transport.TCP, prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES)},
			{"tspl-q+s/tcp", transport.TCP, prof(printer.LangTSPL, printer.QueryTSPLESCQ, printer.QueryTSPLESCS)},
			{"zpl-hs+hqes/serial", transport.Serial, prof(printer.LangZPL, printer.QueryZPLHS, printer.QueryZPLHQES)},
		} {
			t.Run(end.name+"/"+c.name, func(t *testing.T) {
				printertest.RunEnding(t, c.pr.Printer.Language, end.e, opener(c.kind, c.pr))
			})
		}
	}
}

// A rendered label sent to a printer that ends its status replies at ETX is printed and
// confirmed: the printer answered, so the print is no "printer does not answer" fault.
func TestPrintConfirmedByAPrinterEndingRepliesAtETX(t *testing.T) {
	l := label.Label{Waybill: "SF1385628716739", Carrier: "顺丰 SF", OrderID: "T-1", RecipientName: "张三"}
	for _, c := range []struct {
		lang string
		q    []string
		end  emulator.Ending
	}{
		{printer.LangZPL, []string{printer.QueryZPLHS, printer.QueryZPLHQES}, emulator.EndETX},
		{printer.LangZPL, []string{printer.QueryZPLHS, printer.QueryZPLHQES}, emulator.EndETXLateCRLF},
		{printer.LangTSPL, []string{printer.QueryTSPLESCQ, printer.QueryTSPLESCS}, emulator.EndETX},
		{printer.LangTSPL, []string{printer.QueryTSPLESCQ, printer.QueryTSPLESCS}, emulator.EndETXLateCRLF},
	} {
		eo := &emulator.Options{PrintTime: 5 * time.Millisecond, Ending: c.end}
		emu := emulator.NewZPL(eo)
		if c.lang == printer.LangTSPL {
			emu = emulator.NewTSPL(eo)
		}
		addr, err := emu.ListenTCP("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p, err := printer.Open(printer.Config{Name: "p", Address: addr, Profile: prof(c.lang, c.q...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			job, err := label.Render(l, label.Size76x130, 203, c.lang)
			if err != nil {
				t.Fatal(err)
			}
			id, err := p.Print(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			st, err := printer.Confirm(context.Background(), p, id, &printer.ConfirmOptions{Interval: 2 * time.Millisecond, Settle: 20 * time.Millisecond})
			if err != nil || len(st.Faults) != 0 {
				t.Fatalf("%s ending %d, label %d: Confirm = %+v, %v; want confirmed", c.lang, c.end, i+1, st, err)
			}
		}
		if jobs := emu.Jobs(); len(jobs) != 3 || !reflect.DeepEqual(jobscan.Scan(jobs[2], nil), []string{l.Waybill}) {
			t.Fatalf("%s: printer has %d formats", c.lang, len(jobs))
		}
		// A fault is still read from such a reply, not taken for silence.
		emu.SetFault(printer.FaultPaperOut)
		st, err := p.Status(context.Background())
		if err != nil || !reflect.DeepEqual(st.Faults, []printer.Fault{printer.FaultPaperOut}) {
			t.Fatalf("%s ending %d, paper out: %+v, %v", c.lang, c.end, st, err)
		}
		p.Close()
		emu.Close()
	}
}

// The one-byte <ESC>!? reply has no frame: a CR LF the printer sends after an <ESC>!S reply that
// was taken at its ETX must not be read as the next status byte (0x0D would be head open, paper out
// and ribbon out). A printer that never sends the CR LF and really reports 0x0D is still read right.
func TestLateCRLFIsNotTheNextStatusByte(t *testing.T) {
	extETX := []byte{0x02, '@', '@', '@', '@', 0x03}
	for _, c := range []struct {
		name    string
		replies [][]byte // per query, in order: <ESC>!?, <ESC>!S, <ESC>!?, <ESC>!S
		want    []printer.Fault
	}{
		{"late CR LF with the next status byte", [][]byte{{0x00}, extETX, []byte("\r\n\x00"), extETX}, nil},
		{"late CR LF alone, then the status byte", [][]byte{{0x00}, extETX, []byte("\r\n"), {0x00}, extETX}, nil},
		{"no CR LF ever, status 0x0D", [][]byte{{0x00}, extETX, {0x0D}, extETX},
			[]printer.Fault{printer.FaultHeadOpen, printer.FaultPaperOut, printer.FaultRibbonOut}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := &scripted{replies: c.replies, ch: make(chan []byte, 8), done: make(chan struct{})}
			p, err := printer.Open(printer.Config{Name: "p", Address: "scripted:9100", Profile: prof(printer.LangTSPL, printer.QueryTSPLESCQ, printer.QueryTSPLESCS)},
				&printer.Options{QueryTimeout: 5 * time.Second, Open: func(context.Context, transport.Config) (io.ReadWriteCloser, error) { return conn, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if st, err := p.Status(context.Background()); err != nil || !st.Ready {
				t.Fatalf("first status: %+v, %v", st, err)
			}
			st, err := p.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := faultSet(st.Faults); !reflect.DeepEqual(got, faultSet(c.want)) {
				t.Fatalf("second status faults %v (raw %q), want %v", st.Faults, st.Raw, c.want)
			}
		})
	}
}

func faultSet(f []printer.Fault) map[printer.Fault]bool {
	m := map[printer.Fault]bool{}
	for _, x := range f {
		m[x] = true
	}
	return m
}

// scripted is a printer connection that answers each status query with the next scripted reply,
// each reply one read. A reply list longer than the queries means the extra one comes on its own
// before the next query is answered (a late CR LF arriving by itself).
type scripted struct {
	mu      sync.Mutex
	replies [][]byte
	ch      chan []byte
	done    chan struct{}
	once    sync.Once
}

func (s *scripted) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(b) == 3 && b[0] == 0x1B && len(s.replies) > 0 {
		r := s.replies[0]
		s.replies = s.replies[1:]
		s.ch <- r
		if string(r) == "\r\n" && len(s.replies) > 0 { // the late CR LF alone, then the answer
			s.ch <- s.replies[0]
			s.replies = s.replies[1:]
		}
	}
	return len(b), nil
}

func (s *scripted) Read(b []byte) (int, error) {
	select {
	case r := <-s.ch:
		return copy(b, r), nil
	case <-s.done:
		return 0, io.EOF
	}
}

func (s *scripted) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
