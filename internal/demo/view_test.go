package demo

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRenderLineShowsNewEventsOnce(t *testing.T) {
	d := &Demo{ev: newEventLog(3)}
	at := time.Date(2026, 11, 11, 9, 0, 0, 0, time.UTC)
	snap := func() Snapshot {
		s := Snapshot{At: at, HubStates: map[string]uint64{"picked_up": 7, "awaiting_balance": 2}, Agents: []AgentStat{{Name: "pack01", Acked: 5, Unsynced: 1}}}
		s.Events, s.EventsAll = d.ev.last()
		return s
	}
	d.ev.add(Event{At: at, Source: "pack01", ZH: "甲", EN: "a"})
	var b strings.Builder
	seen := d.renderLine(&b, snap(), 0)
	out := b.String()
	for _, want := range []string{"09:00:00 待付尾款 awaiting_balance 2 |", "已揽收 picked_up 7 |", "待分仓 pending_allocation 0 |", "pack01 未同步 unsynced 1 已确认 acked 5 |", "✘ pack01    甲 / a"} {
		if !strings.Contains(out, want) {
			t.Errorf("line lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "held") || strings.Count(out, "\n") != 2 {
		t.Errorf("empty optional states shown or wrong line count:\n%s", out)
	}
	b.Reset()
	seen = d.renderLine(&b, snap(), seen)
	if strings.Contains(b.String(), "甲") {
		t.Errorf("an event is shown twice:\n%s", b.String())
	}
	for i := 0; i < 5; i++ {
		d.ev.add(Event{At: at, Source: "dock01", Good: true, ZH: "乙", EN: "b"})
	}
	b.Reset()
	d.renderLine(&b, snap(), seen)
	if !strings.Contains(b.String(), "… 2 条事件略 events skipped") || strings.Count(b.String(), "乙") != 3 {
		t.Errorf("overflow not reported:\n%s", b.String())
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) || isTerminal(&strings.Builder{}) {
		t.Error("a pipe or a buffer is taken for a terminal")
	}
}

func TestPadWidth(t *testing.T) {
	for in, want := range map[string]string{"待分仓": "待分仓  ", "待付尾款": "待付尾款", "ab": "ab      ", "超过八列的标签": "超过八列的标签"} {
		if got := padWidth(in, 8); got != want {
			t.Errorf("padWidth(%q) = %q, want %q", in, got, want)
		}
	}
}
