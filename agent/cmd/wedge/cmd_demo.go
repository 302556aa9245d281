package main

import (
	"context"
	"io"

	"wedge/internal/demo"
)

// cmdDemo runs `wedge demo` (internal/demo).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return demo.Run(ctx, args, stdout, stderr)
}
