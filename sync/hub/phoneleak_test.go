package hub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/msgtmpl"
	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/hub/ewaybill"
	"wedge/sync/wire"
)

// A one-line recipient an order system sent unmasked goes down to the PCs with its phone masked
// and its name and address whole (the label prints them); GET /v1/orders shows it masked too.
func TestDownlinkMasksPhoneInOneLineRecipient(t *testing.T) {
	e, _ := newNotifyEnv(t)
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	m := *orderMsg("1")
	m.Recipient = "王五 13957218465 广东省深圳市南山区科技园路1号"
	var r postResp
	postJSON(t, e.hub, "/v1/orders", map[string]any{"site": "sz01", "orders": []wire.OrderMsg{m}}, http.StatusOK, &r)
	waitFor(t, "the order on the site topic", func() bool { return len(a.siteMsgs()) == 1 })
	const want = "王五 139****8465 广东省深圳市南山区科技园路1号"
	if got := a.siteMsgs()[0].Recipient; got != want {
		t.Fatalf("published recipient = %q, want %q", got, want)
	}
	var o struct {
		Versions []wire.OrderMsg `json:"versions"`
	}
	getJSON(t, e.hub, "/v1/orders/"+r.OrderIDs[0], http.StatusOK, &o)
	if len(o.Versions) != 1 || o.Versions[0].Recipient != want {
		t.Fatalf("GET /v1/orders versions = %+v, want the recipient %q", o.Versions, want)
	}
}

// An SMS gateway's failure is stored as the notice's last error, listed by GET /v1/notifications
// and logged: it names the request's URL, which the gateway's template may fill with the phone,
// and quotes the answer, which may echo it. Neither shows the number, in any encoding.
func TestSMSErrorHidesPhone(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "busy: %s / %s", r.URL.Query().Get("to"), r.URL.RawQuery)
	}))
	defer gw.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens: a network error names the URL
	for _, phone := range []string{"13957218463", "+86 139-5721-8464"} {
		digits := strings.NewReplacer("+", "", " ", "", "-", "").Replace(phone)
		for name, tmpl := range map[string]string{
			"503 with the phone in the query": gw.URL + "/sms?to={{phone}}",
			"503 with the phone in the path":  gw.URL + "/sms/{{phone}}",
			"refused, phone in the query":     down.URL + "/sms?to={{phone}}",
		} {
			sms, err := hub.NewSMS(hub.SMSOptions{URL: msgtmpl.MustParse(tmpl, hub.SMSFields)})
			if err != nil {
				t.Fatal(err)
			}
			err = sms.Deliver(context.Background(), hub.Notice{ID: "wn-1", Phone: phone, Text: "hi"})
			if err == nil {
				t.Fatalf("%s: no error", name)
			}
			if strings.HasPrefix(name, "503") && errors.Is(err, hub.ErrPermanent) {
				t.Errorf("%s: %v is permanent; a 503 is worth another try", name, err)
			}
			msg := err.Error()
			for _, leak := range []string{phone, url.QueryEscape(phone), url.PathEscape(phone), digits, "5721846", "139-5721"} {
				if strings.Contains(msg, leak) {
					t.Errorf("%s: error %q holds %q", name, msg, leak)
				}
			}
			if !strings.Contains(msg, "****") {
				t.Errorf("%s: error %q does not show the masked number", name, msg)
			}
		}
	}
}

// echoProvider refuses every request with a message that quotes the recipient's mobile, as sent
// and normalised to its digits.
type echoProvider struct{}

func (echoProvider) Apply(_ context.Context, req ewaybill.Request) (ewaybill.Waybill, error) {
	digits := strings.NewReplacer("+86", "", " ", "", "-", "").Replace(req.Recipient.Mobile)
	return ewaybill.Waybill{}, fmt.Errorf("%w: 收件人手机号 %s (%s) 不在服务范围", ewaybill.ErrPermanent, req.Recipient.Mobile, digits)
}

func (echoProvider) Cancel(context.Context, string, string) error { return nil }

// An e-waybill provider's refusal that quotes the recipient's mobile is listed by GET
// /v1/waybills/pending and logged with the number masked.
func TestEWaybillErrorHidesPhone(t *testing.T) {
	e := &env{t: t, broker: testbroker.Start(t, nil), dir: t.TempDir(), clk: clock.NewFake(t0), logs: &logSink{}}
	e.extra = func(o *hub.Options) {
		o.EWaybill = hub.EWaybillOptions{Provider: echoProvider{}, Carriers: []string{"zto"}, RetryMin: time.Second, RetryMax: time.Minute, Timeout: 5 * time.Second}
	}
	e.startHub("wedge-hub-test")
	m1, m2 := ztoOrder("1"), ztoOrder("2")
	m1.RecipientPhone, m2.RecipientPhone = "13957218463", "+86 139-5721-8464"
	e.post(m1, m2)
	waitFor(t, "both refusals listed", func() bool {
		l := e.pendingWaybills()
		return len(l) == 2 && l[0].Permanent && l[1].Permanent
	})
	var seen []string
	for _, p := range e.pendingWaybills() {
		seen = append(seen, p.LastError)
	}
	e.logs.mu.Lock()
	seen = append(seen, e.logs.lines...)
	e.logs.mu.Unlock()
	all := strings.Join(seen, "\n")
	for _, leak := range []string{"13957218463", "13957218464", "5721-8464", "57218463", "57218464"} {
		if strings.Contains(all, leak) {
			t.Errorf("last_error or the log holds %q:\n%s", leak, all)
		}
	}
	if !strings.Contains(all, "139****8463") || !strings.Contains(all, "不在服务范围") {
		t.Errorf("the refusal is not listed with the number masked:\n%s", all)
	}
}
