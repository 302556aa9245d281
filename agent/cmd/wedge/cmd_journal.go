package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"wedge/agent"
	"wedge/agent/journal"
)

func cmdJournalVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "代理数据目录 the agent's data_dir (or the journal file itself)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal verify --data DIR")
		return exitUsage
	}
	path := *data
	if st, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "wedge journal verify: 无法打开 cannot open %s: %v\n", path, err)
		return exitUsage
	} else if st.IsDir() {
		path = filepath.Join(path, agent.JournalFile)
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "wedge journal verify: 目录中没有日志 no journal in %s: %v\n", *data, err)
			return exitUsage
		}
	}
	rep, err := journal.Verify(path)
	if err != nil {
		// Not readable at all: missing, locked by a running agent, not a wedge journal.
		fmt.Fprintf(stderr, "wedge journal verify: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s\n", rep)
	if !rep.OK {
		return exitFailure
	}
	return exitOK
}
