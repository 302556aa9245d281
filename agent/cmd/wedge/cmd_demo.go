package main

import (
	"context"
	"fmt"
	"io"
)

// cmdDemo is a stub until agent/demo lands; then it calls demo.Run(ctx, args, stdout).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "wedge demo: 此版本尚未提供演示 not yet available in this build")
	return exitNotYet
}
