// Package doctor checks an installed agent the way a support engineer would: the config, the
// devices it names and their device nodes, the udev rules, the broker with the configured TLS,
// the clock against the hub, free disk, the journal and the unsynced backlog. Each check gives
// one line OK / WARN / FAIL (or SKIP when it cannot apply) with what to do, Chinese first.
// `wedge doctor` (agent/cmd/wedge) gathers the inputs and prints the lines; its exit status is
// Exit's: 0 all OK, 1 any FAIL, 2 WARN but no FAIL (SKIP counts as OK).
package doctor

import (
	"fmt"
	"io"
	"strings"
)

// Level is a check's verdict.
type Level int

const (
	OK   Level = iota // fine
	Skip              // not applicable here (no hub given, not Linux); counts as OK
	Warn              // works, but needs attention
	Fail              // broken: the agent cannot work as configured
)

func (l Level) String() string {
	return [...]string{"OK", "SKIP", "WARN", "FAIL"}[l]
}

// Exit statuses of `wedge doctor`.
const (
	ExitOK   = 0 // every check OK or SKIP
	ExitFail = 1 // at least one FAIL
	ExitWarn = 2 // at least one WARN and no FAIL
)

// Result is one check's line.
type Result struct {
	Check  string // what was checked, e.g. "broker 消息服务器"
	Level  Level
	Detail string // what was found
	Fix    string // what to do, Chinese first then English; empty when nothing is to be done
}

func result(check string, l Level, detail, fix string) Result {
	return Result{Check: check, Level: l, Detail: detail, Fix: fix}
}

// Exit is the exit status for results: ExitFail if any failed, else ExitWarn if any warned.
func Exit(rs []Result) int {
	code := ExitOK
	for _, r := range rs {
		switch r.Level {
		case Fail:
			return ExitFail
		case Warn:
			code = ExitWarn
		}
	}
	return code
}

// Write prints one line per result and an indented fix under those that have one, then a
// summary line.
func Write(w io.Writer, rs []Result) {
	n := map[Level]int{}
	for _, r := range rs {
		n[r.Level]++
		fmt.Fprintf(w, "%-4s %s: %s\n", r.Level, r.Check, r.Detail)
		if r.Fix != "" {
			for _, l := range strings.Split(strings.TrimRight(r.Fix, "\n"), "\n") {
				fmt.Fprintf(w, "     → %s\n", l)
			}
		}
	}
	fmt.Fprintf(w, "\n%d OK, %d WARN, %d FAIL, %d SKIP\n", n[OK], n[Warn], n[Fail], n[Skip])
}
