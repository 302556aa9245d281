package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"wedge/drivers/profile"
)

func cmdProfilesValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "用法 usage: wedge profiles validate DIR")
		return exitUsage
	}
	if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "wedge profiles validate: 不是目录 not a directory: %s\n", args[0])
		return exitUsage
	}
	set, err := profile.LoadDir(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "wedge profiles validate: 固件配置无效 invalid profiles:\n%v\n", err)
		return exitFailure
	}
	for _, p := range set {
		fmt.Fprintf(stdout, "%s: %s %s %s (%s)\n", p.File, p.ID, p.Vendor, p.Model, p.Kind)
	}
	fmt.Fprintf(stdout, "%d profiles OK\n", len(set))
	return exitOK
}
