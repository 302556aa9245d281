package hub_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"wedge/internal/mail"
	"wedge/internal/mail/mailtest"
	"wedge/internal/testbroker"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// A PC's breaker opening reaches the supervisors by e-mail: the hub's outbox sends it through the
// e-mail channel to a real SMTP listener, Chinese first, with the notice's ID as Message-ID.
func TestBreakerNoticeByEmail(t *testing.T) {
	e, rcv := newNotifyEnv(t)
	smtp := mailtest.Start(t)
	e.extra = func(o *hub.Options) {
		o.Notify = notifyOptions(t, rcv, e.clk)
		em, err := hub.NewEmail(hub.EmailOptions{Mailer: mail.Config{Host: smtp.Host(), Port: smtp.Port(), From: "wedge@example.com",
			To: []string{"report@example.com"}, Timeout: 10 * time.Second}, To: []string{"ops-sz01@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		o.Notify.Channels["hook"] = em
	}
	e.broker = testbroker.Start(t, nil)
	e.startHub("wedge-hub-test")
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	b, _ := json.Marshal(wire.Status{State: "online", Site: "sz01", Agent: "pack01", BreakerOpen: true, At: wire.Time(t0)})
	a.publish(wire.TopicStatus("sz01", "pack01"), b)
	advanceUntil(t, e.clk, 10*time.Second, "the notice sent", func() bool { return len(notifications(t, e.hub, "?state=sent")) == 1 })
	msgs := smtp.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ops-sz01@example.com" || msgs[0].From != "wedge@example.com" {
		t.Fatalf("SMTP listener got %+v, want one message to ops-sz01@example.com", msgs)
	}
	n := notifications(t, e.hub, "?state=sent")[0]
	if !strings.Contains(msgs[0].Data, "Message-ID: <"+n.ID+"@example.com>") {
		t.Errorf("message lacks the notice's Message-ID %s:\n%s", n.ID, msgs[0].Data)
	}
	body := decodedParts(msgs[0].Data)
	if !strings.Contains(body, "sz01/pack01 积压熔断已打开") || !strings.Contains(body, "backlog breaker opened") {
		t.Errorf("message text = %q, want the breaker notice, Chinese first", body)
	}
}

// decodedParts joins the base64 parts of a message.
func decodedParts(data string) string {
	var out strings.Builder
	for _, line := range strings.Split(data, "\r\n\r\n") {
		first, _, _ := strings.Cut(line, "\r\n--")
		if b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(first, "\r\n", "")); err == nil && len(b) > 0 {
			out.Write(b)
		}
	}
	return out.String()
}

type fakeMailer struct{ err error }

func (f fakeMailer) Send(context.Context, mail.Message) error { return f.err }

// The relay's 5xx fails a notice at once; its 4xx and a network failure are retried.
func TestEmailErrorClasses(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"550", fmt.Errorf("%w: %w", mail.ErrSend, &textproto.Error{Code: 550, Msg: "no such user"}), true},
		{"451", fmt.Errorf("%w: %w", mail.ErrSend, &textproto.Error{Code: 451, Msg: "try later"}), false},
		{"network", fmt.Errorf("%w: %w", mail.ErrSend, errors.New("connection refused")), false},
		{"config", fmt.Errorf("%w: bad", mail.ErrConfig), true},
	} {
		em, _ := hub.NewEmail(hub.EmailOptions{Mailer: fakeMailer{c.err}})
		err := em.Deliver(context.Background(), hub.Notice{ID: "wn-1", Kind: hub.NoticeBreakerOpened, Text: "x"})
		if err == nil || errors.Is(err, hub.ErrPermanent) != c.permanent {
			t.Errorf("%s: Deliver = %v, want permanent %v", c.name, err, c.permanent)
		}
	}
}
