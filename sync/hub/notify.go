package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"wedge/internal/msgtmpl"
)

// Notifications. The hub decides from what agents sync that someone should hear about something
// (a customer whose order has waited 30 minutes; a site's supervisors when a PC's breaker opens or
// closes), stores a row in its outbox in the same transaction as the cause (rules.go), and a
// dispatcher (outbox.go) sends the rows through channels. A channel is anything with Deliver: the
// webhook (webhook.go), an SMS gateway over HTTP (sms.go) and e-mail through the hub's SMTP relay
// (email.go).

// ErrPermanent wrapped in a channel's error means retrying cannot help (the receiver refused the
// notice: a 4xx other than 408 and 429): the row fails at once. Any other error is retried with
// backoff until the last attempt.
var ErrPermanent = errors.New("hub: notification refused")

// Notice kinds.
const (
	NoticeReminder      = "reminder"       // the order still waits to be printed (customer, SMS)
	NoticeBreakerOpened = "breaker_opened" // a PC's backlog breaker opened (supervisors)
	NoticeBreakerClosed = "breaker_closed" // and closed again
	// NoticeFalseCompletion: handed over (已揽收 by the handover scan) but no carrier first scan
	// within the rule's time: 伪完成, the parcel may still be in the warehouse (supervisors).
	NoticeFalseCompletion = "false_completion"
	// NoticeKPIWarning: a site's pickup KPI of the day fell under its warning level (supervisors).
	NoticeKPIWarning = "kpi_warning"
)

// Notice is what a channel delivers: one outbox row.
type Notice struct {
	// ID is the idempotency key, the same on every try and every replica (IdempotencyKey).
	ID string
	OutboxKey
	Kind string
	// Text is the message, rendered from the rule's template when the row was made.
	Text string
	// Phone is the recipient's whole phone number; only a channel that texts the customer uses it,
	// anything shown to people gets order.MaskPhone of it.
	Phone string
	// Fields are the template fields (order_id, channel_order_no, waybill, agent, …).
	Fields    map[string]string
	CreatedAt time.Time
}

// Channel delivers notices. Deliver returns nil only when the receiver took the notice (a 2xx);
// an error wrapping ErrPermanent is not retried. It must give up by ctx's deadline.
type Channel interface {
	Deliver(ctx context.Context, n Notice) error
}

// IdempotencyKey is a notice's key: "wn-" and 32 hex digits of SHA-256 over site, subject and rule,
// so every try and every replica sends the same key, and a receiver that stores it can drop a
// repeat (a send whose 2xx was lost, or a replica whose lease ran out while it was sending).
func IdempotencyKey(k OutboxKey) string {
	s := sha256.Sum256(join(k.Site, k.Order, k.Rule))
	return "wn-" + hex.EncodeToString(s[:16])
}

// Template fields (msgtmpl's lists, which hub.yaml is checked against).
var (
	OrderFields   = msgtmpl.OrderFields
	BreakerFields = msgtmpl.BreakerFields
	SMSFields     = msgtmpl.SMSFields
	KPIFields     = msgtmpl.KPIFields
)

// DefaultReminderText is the 30-minute reminder's text when a site sets none.
const DefaultReminderText = "您的订单正在智能分仓中，预计2小时内完成打单，稍后将发送物流单号"

// Default texts of the breaker notices.
const (
	DefaultBreakerOpenedText = "【wedge】{{site}}/{{agent}} 积压熔断已打开，新订单暂停进入（{{at}}）/ backlog breaker opened, intake held"
	DefaultBreakerClosedText = "【wedge】{{site}}/{{agent}} 积压熔断已关闭，恢复进入（{{at}}）/ backlog breaker closed, intake resumed"
)

// NotifyOptions configure notifications (Options.Notify). Zero values mean the documented defaults.
type NotifyOptions struct {
	// Channels by name, as the rules name them.
	Channels map[string]Channel
	// Sites holds each site's rules; the entry "*" applies to sites without their own.
	Sites map[string]SiteRules
	// Owner names this replica in its leases (default Options.ClientID). Replicas need distinct
	// owners.
	Owner string
	// Poll is how often the dispatcher looks for due rows besides being woken (default 5s).
	Poll time.Duration
	// Lease is how long a claim lasts (default 2m; at least twice a channel's timeout). A replica
	// that dies while sending leaves its row claimable again after this.
	Lease time.Duration
	// MaxAttempts is the number of tries before a row fails (default 10).
	MaxAttempts int
	// Backoff is the wait after the first failed try, doubled after each (default 30s), up to
	// MaxBackoff (default 1h).
	Backoff, MaxBackoff time.Duration
}

// SiteRules are one site's notification rules; a nil rule is off.
type SiteRules struct {
	Reminder        *ReminderRule
	Breaker         *BreakerRule
	FalseCompletion *FalseCompletionRule
	KPIWarning      *KPIWarningRule // rules_kpi.go
}

// FalseCompletionRule tells the site's supervisors about an order handed over (picked_up by the
// handover scan) without a carrier first scan (POST /v1/tracking) within After (default 12h).
type FalseCompletionRule struct {
	After   time.Duration
	Channel string
	Text    *msgtmpl.Template // nil: DefaultFalseCompletionText (fields OrderFields)
}

// DefaultFalseCompletionText is the 伪完成 notice's text when a site sets none.
const DefaultFalseCompletionText = "【wedge】{{site}} 订单 {{order_id}}（运单 {{waybill}}）已交接，但快递迟迟没有揽收扫描：疑似伪完成，请核实包裹是否仍在仓内 / handed over without a carrier first scan: check whether the parcel is still in the warehouse"

// DefaultFalseCompletionAfter is FalseCompletionRule.After's default.
const DefaultFalseCompletionAfter = 12 * time.Hour

// ReminderRule texts the customer once per order when it has waited After (default 30m) since it
// first entered 暂停进入 or 待分仓, unless it was printed, cancelled or intercepted first.
type ReminderRule struct {
	After   time.Duration
	Channel string
	Text    *msgtmpl.Template // nil: DefaultReminderText (fields OrderFields)
}

// BreakerRule tells the site's supervisors when a PC's breaker opens or closes.
type BreakerRule struct {
	Channel        string
	Opened, Closed *msgtmpl.Template // nil: the default texts (fields BreakerFields)
}

func (o *NotifyOptions) withDefaults(clientID string) NotifyOptions {
	n := *o
	if n.Owner == "" {
		n.Owner = clientID
	}
	if n.Poll <= 0 {
		n.Poll = 5 * time.Second
	}
	if n.Lease <= 0 {
		n.Lease = 2 * time.Minute
	}
	if n.MaxAttempts <= 0 {
		n.MaxAttempts = 10
	}
	if n.Backoff <= 0 {
		n.Backoff = 30 * time.Second
	}
	if n.MaxBackoff <= 0 {
		n.MaxBackoff = time.Hour
	}
	return n
}

// rules returns a site's rules (its own, else "*").
func (o *NotifyOptions) rules(site string) SiteRules {
	if o == nil {
		return SiteRules{}
	}
	if r, ok := o.Sites[site]; ok {
		return r
	}
	return o.Sites["*"]
}
