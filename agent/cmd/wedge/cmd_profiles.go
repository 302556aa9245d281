package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"wedge/agent"
	"wedge/drivers/profile"
	"wedge/drivers/scanner"
	"wedge/drivers/scanner/hidscan"
	"wedge/drivers/scanner/hidscan/feedback"
)

// driverCheck builds what the scanner drivers build from p.
func driverCheck(p profile.Profile) error {
	if p.Kind != profile.KindScanner {
		return nil
	}
	if p.HID != nil {
		if _, err := hidscan.NewDecoder(*p.HID); err != nil {
			return fmt.Errorf("hid: %w", err)
		}
	}
	for _, o := range []scanner.Outcome{scanner.Good, scanner.Bad} {
		if _, err := feedback.Encode(p.Feedback, o, false); err != nil && !errors.Is(err, feedback.ErrNoFeedback) {
			return fmt.Errorf("feedback: %w", err)
		}
	}
	return nil
}

func transports(p profile.Profile) []string {
	if p.Kind != profile.KindScanner {
		if p.Printer != nil {
			return p.Printer.Transports
		}
		return nil
	}
	ts := agent.ProfileTransports(p)
	if len(ts) == 0 {
		return []string{"no serial or hid settings"}
	}
	return ts
}

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
	// What the loader accepts, the drivers must be able to use: build each scanner profile's HID
	// decoder and encode its feedback as the agent would.
	bad := 0
	for _, p := range set {
		if err := driverCheck(p); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", p.File, err)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "wedge profiles validate: %d 个配置驱动无法使用 profiles the drivers cannot use\n", bad)
		return exitFailure
	}
	for _, p := range set {
		fmt.Fprintf(stdout, "%s: %s %s %s (%s; %s)\n", p.File, p.ID, p.Vendor, p.Model, p.Kind, strings.Join(transports(p), ", "))
	}
	fmt.Fprintf(stdout, "%d profiles OK\n", len(set))
	return exitOK
}
