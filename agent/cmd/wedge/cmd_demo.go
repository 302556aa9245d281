package main

import (
	"context"
	"io"

	"wedge/agent/demo"
)

// cmdDemo runs `wedge demo` (agent/demo).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return demo.Run(ctx, args, stdout, stderr)
}
