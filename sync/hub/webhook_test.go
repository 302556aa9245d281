package hub_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wedge/internal/msgtmpl"
	"wedge/sync/hub"
)

// Which answers are tried again: 408, 429, 5xx and network errors; any other 4xx is a refusal.
func TestChannelRetryClassification(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	w, err := hub.NewWebhook(hub.WebhookOptions{URL: srv.URL, Secret: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	n := hub.Notice{ID: "wn-1", OutboxKey: hub.OutboxKey{Site: "sz01", Order: "O-1", Rule: "reminder"}}
	for _, c := range []struct {
		status          int
		ok, permanently bool
	}{{200, true, false}, {204, true, false}, {408, false, false}, {429, false, false}, {500, false, false}, {503, false, false},
		{400, false, true}, {401, false, true}, {404, false, true}, {410, false, true}} {
		status = c.status
		err := w.Deliver(context.Background(), n)
		if (err == nil) != c.ok || errors.Is(err, hub.ErrPermanent) != c.permanently {
			t.Errorf("HTTP %d: %v; want ok %v, permanent %v", c.status, err, c.ok, c.permanently)
		}
	}
	dead, _ := hub.NewWebhook(hub.WebhookOptions{URL: "http://127.0.0.1:1/x", Secret: []byte("k"), Timeout: 2 * time.Second})
	if err := dead.Deliver(context.Background(), n); err == nil || errors.Is(err, hub.ErrPermanent) {
		t.Errorf("network error = %v; want a retryable error", err)
	}
}

// The signature covers the timestamp and the raw body; a changed body, another secret or a stale
// timestamp fail.
func TestWebhookSignature(t *testing.T) {
	now := time.Date(2026, 1, 22, 8, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"wn-1"}`)
	h := hub.SignWebhook([]byte("k"), now, body)
	if err := hub.VerifyWebhook([]byte("k"), h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"body":      hub.VerifyWebhook([]byte("k"), h, []byte(`{"id":"wn-2"}`), now, 5*time.Minute),
		"secret":    hub.VerifyWebhook([]byte("other"), h, body, now, 5*time.Minute),
		"stale":     hub.VerifyWebhook([]byte("k"), h, body, now.Add(time.Hour), 5*time.Minute),
		"malformed": hub.VerifyWebhook([]byte("k"), "v1=zz", body, now, 5*time.Minute),
	} {
		if !errors.Is(err, hub.ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

// The SMS gateway gets its templates filled (form escaping here); the phone never appears whole
// in an error.
func TestSMSGatewayFormAndMaskedErrors(t *testing.T) {
	var got string
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Header.Get("X-Ref") + " " + string(b)
		if fail {
			http.Error(w, "bad number 13812345678", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	sms, err := hub.NewSMS(hub.SMSOptions{URL: msgtmpl.MustParse(srv.URL+"/send?o={{order_id}}", hub.SMSFields),
		Headers: map[string]*msgtmpl.Template{"X-Ref": msgtmpl.MustParse("{{id}}", hub.SMSFields)},
		Body:    msgtmpl.MustParse("to={{phone}}&msg={{text}}", hub.SMSFields), Escape: msgtmpl.Escapes["form"]})
	if err != nil {
		t.Fatal(err)
	}
	n := hub.Notice{ID: "wn-9", Phone: "13812345678", Text: "您的订单 A&B", Fields: map[string]string{"order_id": "O 1"}}
	if err := sms.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if want := "wn-9 to=13812345678&msg=%E6%82%A8%E7%9A%84%E8%AE%A2%E5%8D%95+A%26B"; got != want {
		t.Errorf("gateway got %q, want %q", got, want)
	}
	fail = true
	err = sms.Deliver(context.Background(), n)
	if !errors.Is(err, hub.ErrPermanent) || strings.Contains(err.Error(), "13812345678") || !strings.Contains(err.Error(), "138****5678") {
		t.Errorf("refusal = %v; want permanent, the phone masked", err)
	}
	if err := sms.Deliver(context.Background(), hub.Notice{ID: "x"}); !errors.Is(err, hub.ErrPermanent) {
		t.Errorf("no phone = %v, want permanent", err)
	}
}

// A receiver that never answers: the try ends at the channel's timeout with a retryable error (the
// outbox tries again later), not a hang of the dispatcher.
func TestWebhookHangingReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w, err := hub.NewWebhook(hub.WebhookOptions{URL: srv.URL, Secret: []byte("k"), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := hub.Notice{ID: "wn-2", OutboxKey: hub.OutboxKey{Site: "sz01", Order: "O-2", Rule: "reminder"}}
	done := make(chan error, 1)
	go func() { done <- w.Deliver(context.Background(), n) }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, hub.ErrPermanent) {
			t.Fatalf("hanging receiver: %v; want a retryable error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Deliver did not give up at its timeout")
	}
}
