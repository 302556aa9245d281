package ewaybill_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/sync/hub/ewaybill"
	"wedge/sync/hub/ewaybill/ewaybilltest"
)

func newAdapter(t *testing.T, srv *ewaybilltest.Server, secret string, timeout time.Duration) *ewaybill.Kuaidi100 {
	t.Helper()
	k, err := ewaybill.NewKuaidi100(ewaybill.Kuaidi100Options{URL: srv.URL, Key: "k", Secret: secret,
		Accounts: map[string]ewaybill.Account{"zto": {PartnerID: "p", Net: "cainiao"}, "sf": {PartnerID: "s"}},
		Sender:   ewaybill.Party{Name: "仓库", Mobile: "138", Address: "上海"},
		Client:   &http.Client{Timeout: timeout}, Clock: clock.NewFake(time.UnixMilli(1767225600123))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func req(carrier string) ewaybill.Request {
	return ewaybill.Request{OrderID: "O-1", Carrier: carrier, Recipient: ewaybill.Party{Name: "李四", Mobile: "139", Address: "北京"}}
}

// The signature is uppercase MD5(param + t + key + secret).
func TestSign(t *testing.T) {
	// md5("{}1kS"), computed independently (Python hashlib).
	if got := ewaybill.Sign("{}", "1", "k", "S"); got != "ADC7088DBA0F7EB010600880E2C9061F" {
		t.Fatalf("sign = %q", got)
	}
}

func TestApplyReturnsTheNumberAndSendsTheParams(t *testing.T) {
	srv := ewaybilltest.New("k", "sec")
	defer srv.Close()
	wb, err := newAdapter(t, srv, "sec", 5*time.Second).Apply(context.Background(), req("sf"))
	if err != nil {
		t.Fatal(err)
	}
	if wb.Number != srv.Issued()[0] || wb.SortCode != "上海 100" || wb.TaskID != "task1" {
		t.Fatalf("waybill = %+v", wb)
	}
	p := srv.Params()[0]
	send := p["sendMan"].(map[string]any)
	if p["kuaidicom"] != "shunfeng" || p["partnerId"] != "s" || p["printType"] != "NON" || p["count"] != 1.0 || send["name"] != "仓库" {
		t.Fatalf("param = %v", p)
	}
}

// Failures are classified: what a retry can fix is ErrRetryable, the rest ErrPermanent.
func TestApplyClassifiesFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    ewaybilltest.Mode
		code    int
		secret  string
		carrier string
		want    error
	}{
		{"5xx", ewaybilltest.Status5xx, 0, "sec", "zto", ewaybill.ErrRetryable},
		{"timeout", ewaybilltest.Hang, 0, "sec", "zto", ewaybill.ErrRetryable},
		{"quota 30004", ewaybilltest.Refuse, 30004, "sec", "zto", ewaybill.ErrRetryable},
		{"account 30003", ewaybilltest.Refuse, 30003, "sec", "zto", ewaybill.ErrPermanent},
		{"unknown code", ewaybilltest.Refuse, 40404, "sec", "zto", ewaybill.ErrPermanent},
		{"bad signature 30002", ewaybilltest.OK, 0, "wrong", "zto", ewaybill.ErrPermanent},
		{"no account for the carrier", ewaybilltest.OK, 0, "sec", "yto", ewaybill.ErrPermanent},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := ewaybilltest.New("k", "sec")
			defer srv.Close()
			srv.SetMode(c.mode, c.code)
			_, err := newAdapter(t, srv, c.secret, 200*time.Millisecond).Apply(context.Background(), req(c.carrier))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	srv := ewaybilltest.New("k", "sec")
	srv.Close()
	if _, err := newAdapter(t, srv, "sec", time.Second).Apply(context.Background(), req("zto")); !errors.Is(err, ewaybill.ErrRetryable) {
		t.Fatalf("server down: %v", err)
	}
}

func TestOptionsChecked(t *testing.T) {
	if _, err := ewaybill.NewKuaidi100(ewaybill.Kuaidi100Options{Key: "k"}); err == nil {
		t.Error("no secret accepted")
	}
	if _, err := ewaybill.NewKuaidi100(ewaybill.Kuaidi100Options{Key: "k", Secret: "s", Accounts: map[string]ewaybill.Account{"ups": {}}}); err == nil {
		t.Error("a carrier without a kuaidi100 code accepted")
	}
	k, _ := ewaybill.NewKuaidi100(ewaybill.Kuaidi100Options{Key: "k", Secret: "s"})
	if err := k.Cancel(context.Background(), "zto", "78000000000001"); !errors.Is(err, ewaybill.ErrPermanent) {
		t.Errorf("cancel = %v", err)
	}
}
