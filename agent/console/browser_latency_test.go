package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/agent/console"
	"wedge/agent/console/consoletest"
	"wedge/agent/latency"
)

// The intake latency card and popup in a real browser: orders paid 23 minutes before they reach
// the PC (the field notes' push delay) show a red 10-minute median, their bar in the 23-minute
// bucket, what was not measured, and the alert popup, Chinese first, English on the toggle.
func TestBrowserIntakeLatency(t *testing.T) {
	exe := consoletest.Chromium(t)
	e := newEnv(t, nil)
	w := latency.New(latency.Options{Limit: 10 * time.Minute})
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		w.Add(at, at.Add(-23*time.Minute))
	}
	w.Add(t0, time.Time{})
	w.Add(t0, t0.Add(time.Hour))
	st, raised := w.Observe(t0.Add(time.Minute))
	if !raised {
		t.Fatal("no alert from the window")
	}
	b := board()
	b.Intake = st
	e.src.SetBoard(b)

	ctx := consoletest.Browser(t, exe, 1400, 900)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(css(`#conn.ok`)), chromedp.WaitVisible(css(`#lat-dist tr[data-bucket="≤23m"]`))); err != nil {
		t.Fatal(err)
	}
	card, _ := chromedp.Run(ctx, chromedp.Text(css(`#card-intake`)))
	class, _ := chromedp.Run(ctx, chromedp.AttributeValue(css(`#lat-median`), "class"))
	if !strings.Contains(card, "订单到达延迟") || !strings.Contains(card, "23m0s") || !strings.Contains(card, "5 单") || !strings.Contains(card, "1 / 1") || !strings.Contains(class.Value, "lvl-bad") {
		t.Fatalf("card %q, median class %q", card, class.Value)
	}
	e.c.Publish(console.AlertEvent(console.IntakeLatencyAlert(st)))
	popup := `.popup[data-kind="intake_latency"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(popup))); err != nil {
		t.Fatal(err)
	}
	zh, _ := chromedp.Run(ctx, chromedp.Text(css(popup+" h3")))
	if !strings.HasPrefix(zh, "订单到仓延迟过高") || !strings.Contains(zh, "23m0s") {
		t.Fatalf("popup %q", zh)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`#lang-btn`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('.popup[data-kind="intake_latency"] h3').textContent.startsWith("Orders arrive late") &&
		document.getElementById("card-intake").textContent.includes("Intake latency")`)); err != nil {
		t.Fatalf("English: %v", err)
	}
}
