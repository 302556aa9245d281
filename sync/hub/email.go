package hub

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"sort"
	"strings"

	"wedge/internal/mail"
	"wedge/order"
)

// EmailOptions configure an e-mail channel (hub.yaml notify.channels, type email): supervisors'
// notices sent through the hub's SMTP relay (hub.yaml smtp:).
type EmailOptions struct {
	// Mailer is the relay (a mail.Config); required. Its Timeout bounds one try.
	Mailer Mailer
	// To are the recipients; empty means the Mailer's own (smtp.to).
	To []string
}

// Email sends a notice as a plain-text e-mail, Chinese first. The customer's phone, if the notice
// carries one, is shown masked: e-mail goes to staff.
type Email struct{ o EmailOptions }

// NewEmail returns an e-mail channel.
func NewEmail(o EmailOptions) (*Email, error) {
	if o.Mailer == nil {
		return nil, fmt.Errorf("%w: an e-mail channel needs the hub's SMTP relay (smtp.host)", ErrOptions)
	}
	return &Email{o: o}, nil
}

// emailSubjects are the subjects by notice kind.
var emailSubjects = map[string]string{
	NoticeBreakerOpened:   "积压熔断已打开 / backlog breaker opened",
	NoticeBreakerClosed:   "积压熔断已关闭 / backlog breaker closed",
	NoticeFalseCompletion: "疑似伪完成 / handed over without a carrier scan",
	NoticeReminder:        "订单等待打单 / order waiting to be printed",
	NoticeKPIWarning:      "揽收时效达标率低于预警线 / pickup KPI under its warning level",
}

// Deliver implements Channel. The relay's 5xx (and a message the relay cannot take) fails the
// notice at once (ErrPermanent); a 4xx or a network failure is retried. The notice's ID is the
// Message-ID, the same on every try.
func (e *Email) Deliver(ctx context.Context, n Notice) error {
	subject, ok := emailSubjects[n.Kind]
	if !ok {
		subject = "通知 / notice " + n.Kind
	}
	m := mail.Message{ID: n.ID, To: e.o.To, Subject: "【wedge】" + n.Site + " " + subject, Text: emailText(n)}
	err := e.o.Mailer.Send(ctx, m)
	if err == nil {
		return nil
	}
	if permanentMailError(err) {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return err
}

// emailText is the body: the notice's text, then its fields one a line (the phone masked).
func emailText(n Notice) string {
	var b strings.Builder
	b.WriteString(n.Text)
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "站点 site: %s\n类型 kind: %s\n对象 subject: %s\n时间 at: %s\n", n.Site, n.Kind, n.Order, n.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	keys := make([]string, 0, len(n.Fields))
	for k := range n.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, n.Fields[k])
	}
	if n.Phone != "" {
		fmt.Fprintf(&b, "收件人电话 phone: %s\n", order.MaskPhone(n.Phone))
	}
	fmt.Fprintf(&b, "编号 id: %s\n", n.ID)
	return b.String()
}

// permanentMailError tells whether retrying cannot help: the relay answered 5xx, or the message
// or configuration is unusable.
func permanentMailError(err error) bool {
	if errors.Is(err, mail.ErrConfig) {
		return true
	}
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}
