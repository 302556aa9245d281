package hub_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/mail"
	"wedge/internal/mail/mailtest"
	"wedge/internal/testbroker"
	"wedge/internal/testpg"
	"wedge/sync/hub"
)

// reportNotices are the daily-report rows of GET /v1/notifications.
func reportNotices(t *testing.T, h *hub.Hub) []hub.NotificationView {
	t.Helper()
	var out []hub.NotificationView
	for _, n := range notifications(t, h, "") {
		if n.Rule == hub.NoticeDailyReport {
			out = append(out, n)
		}
	}
	return out
}

// Two replicas on one PostgreSQL store write the same day's report at once, several times each:
// the day's outbox row is made once (it is the day's lock), and the report is mailed once, with the
// row's idempotency key as its Message-ID.
func TestDailyReportMailedOnceAcrossReplicas(t *testing.T) {
	srv := testpg.Start(t)
	stores := pgStores(t, srv)
	b := testbroker.Start(t, nil)
	clk := clock.NewFake(t0)
	ms := mailtest.Start(t)
	opts := func(o *hub.Options) {
		o.Store = stores(t)
		o.Measures.ReportAt = "10:00"
		o.Measures.Mailer = mail.Config{Host: ms.Host(), Port: ms.Port(), From: "hub@example.com", To: []string{"ops@example.com"}}
	}
	h1 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r1", clk, nil, opts)
	h2 := startHub(t, b.URL(), t.TempDir(), "wedge-hub-r2", clk, nil, opts)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		h := []*hub.Hub{h1, h2}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.WriteDailyReport(context.Background(), "2026-01-21")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	advanceUntil(t, clk, time.Second, "the report's e-mail", func() bool {
		ns := reportNotices(t, h2)
		return len(ns) == 1 && ns[0].State == hub.OutboxSent
	})
	clk.Advance(time.Minute) // a second e-mail, if any, would have gone out by now
	ns := reportNotices(t, h1)
	msgs := ms.Messages()
	if len(ns) != 1 || len(msgs) != 1 {
		t.Fatalf("%d report rows, %d e-mails; want 1 and 1", len(ns), len(msgs))
	}
	if !strings.Contains(msgs[0].Data, "Message-ID: <"+ns[0].ID+"@example.com>") || !strings.Contains(msgs[0].Data, "daily-2026-01-21.csv") {
		t.Errorf("e-mail without the row's Message-ID or the CSV:\n%.600s", msgs[0].Data)
	}
}

// Without an SMTP relay the day is still claimed once, and its row says why nothing was mailed.
func TestDailyReportWithoutMailerListedCancelled(t *testing.T) {
	clk := clock.NewFake(t0)
	b := testbroker.Start(t, nil)
	h := startHub(t, b.URL(), t.TempDir(), "wedge-hub-nomail", clk, nil, func(o *hub.Options) { o.Measures.ReportAt = "10:00" })
	for range 2 {
		if err := h.WriteDailyReport(context.Background(), "2026-01-21"); err != nil {
			t.Fatal(err)
		}
	}
	ns := reportNotices(t, h)
	if len(ns) != 1 || ns[0].State != hub.OutboxCancelled || !strings.Contains(ns[0].Cancelled, "smtp.host") {
		t.Fatalf("report rows = %+v, want one, cancelled for want of a relay", ns)
	}
}
