package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wedge/agent/console"
	"wedge/agent/console/consoletest"
	"wedge/order"
	"wedge/sync/wire"
)

// Carrier events in a real browser: the order found by search shows its latest carrier event
// (Chinese first, English on the toggle), and so does an intercepted order's exception queue
// line; each carrier note of its history reads as the event, and a carrier exception is a popup.
func TestBrowserCarrierEvents(t *testing.T) {
	exe := consoletest.Chromium(t)
	e := newEnv(t, nil)
	inTransit := order.CarrierEvent{Event: wire.CarrierInTransit, Carrier: "sf", Waybill: "SF1234567890123", At: t0.Add(2 * time.Hour)}
	base := wire.Entry{Seq: 9, OrderID: "O7", Code: "hseq:12", At: wire.Time(t0.Add(3 * time.Hour))}
	note := order.CarrierNote(base, inTransit)
	note.From, note.To = string(order.PickedUp), string(order.PickedUp)
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "O7", ChannelOrderNo: "TB77", State: order.PickedUp, Waybill: "SF1234567890123", Carrier: "sf", Tracking: inTransit},
		History: []wire.Entry{note}})
	// An order intercepted after pickup: its exception queue line says where the parcel is.
	e.src.AddOrder(console.OrderView{Order: order.Order{ID: "X8", State: order.PickedUp, Tracking: inTransit,
		Intercept: order.Intercept{ID: 8, Status: wire.InterceptAfterPickup, At: t0}}})
	ctx := consoletest.Browser(t, exe, 1400, 900)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(css(`#conn.ok`)),
		chromedp.SendKeys(css(`#search-code`), "TB77"), chromedp.Click(css(`#search-form button`)), chromedp.WaitVisible(css(`#carrier-ev`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`tr.exception[data-order="X8"] .carrier-ev`))); err != nil {
		t.Fatal(err)
	}
	if line, _ := chromedp.Run(ctx, chromedp.Text(css(`tr.exception[data-order="X8"]`))); !strings.Contains(line, "运输中") {
		t.Fatalf("exception line %q", line)
	}
	latest, _ := chromedp.Run(ctx, chromedp.Text(css(`#carrier-ev`)))
	hist, _ := chromedp.Run(ctx, chromedp.Text(css(`table.hist`)))
	if !strings.Contains(latest, "快递动态") || !strings.Contains(latest, "运输中") || !strings.Contains(hist, "运输中") || !strings.Contains(hist, "carrier") {
		t.Fatalf("latest %q, history %q", latest, hist)
	}
	e.c.Publish(console.AlertEvent(console.CarrierExceptionAlert(time.Now(), "O7", order.CarrierEvent{Event: wire.CarrierException, Carrier: "sf", Waybill: "SF1234567890123", At: t0})))
	popup := `.popup[data-kind="carrier_exception"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(popup))); err != nil {
		t.Fatal(err)
	}
	if text, _ := chromedp.Run(ctx, chromedp.Text(css(popup+" h3"))); !strings.Contains(text, "快递异常") || !strings.Contains(text, "O7") {
		t.Fatalf("popup %q", text)
	}
	if err := chromedp.Do(ctx, chromedp.Click(css(`#lang-btn`)), chromedp.WaitVisible(css(`#carrier-ev`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("carrier-ev").textContent.includes("in transit")`)); err != nil {
		t.Fatalf("English latest event: %v", err)
	}
}
