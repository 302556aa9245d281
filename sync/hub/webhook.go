package hub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"wedge/internal/clock"
	"wedge/order"
)

// Webhook headers.
const (
	// HeaderIdempotencyKey carries Notice.ID (the same on every try).
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
	HeaderSignature = "X-Wedge-Signature"
)

// DefaultChannelTimeout bounds one HTTP try of a channel.
const DefaultChannelTimeout = 10 * time.Second

// ErrSignature means a webhook's signature does not verify.
var ErrSignature = errors.New("hub: webhook signature does not verify")

// WebhookOptions configure a webhook channel.
type WebhookOptions struct {
	URL    string
	Secret []byte // HMAC-SHA256 key shared with the receiver; required
	// Timeout bounds one try (default DefaultChannelTimeout).
	Timeout time.Duration
	Client  *http.Client // nil: a client with Timeout
	Clock   clock.Clock  // the signature's timestamp (nil: real)
}

// Webhook POSTs a notice as JSON (WebhookBody), signed and with its idempotency key.
type Webhook struct{ o WebhookOptions }

// NewWebhook returns a webhook channel.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	if o.URL == "" || len(o.Secret) == 0 {
		return nil, fmt.Errorf("%w: a webhook needs a URL and a secret", ErrOptions)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultChannelTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	o.Clock = clock.Or(o.Clock)
	return &Webhook{o: o}, nil
}

// WebhookBody is what a webhook receives. The phone is masked: a webhook goes to staff systems.
type WebhookBody struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Site      string            `json:"site"`
	Subject   string            `json:"subject"`
	Rule      string            `json:"rule"`
	Text      string            `json:"text"`
	Phone     string            `json:"phone,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Deliver implements Channel.
func (w *Webhook) Deliver(ctx context.Context, n Notice) error {
	body, _ := json.Marshal(WebhookBody{ID: n.ID, Kind: n.Kind, Site: n.Site, Subject: n.Order, Rule: n.Rule, Text: n.Text,
		Phone: order.MaskPhone(n.Phone), Fields: n.Fields, CreatedAt: n.CreatedAt})
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(HeaderIdempotencyKey, `"`+n.ID+`"`)
	req.Header.Set(HeaderSignature, SignWebhook(w.o.Secret, w.o.Clock.Now(), body))
	return send(w.o.Client, req, nil)
}

// SignWebhook is the X-Wedge-Signature value of body sent at t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a webhook's signature header over the raw body, in constant time, and that
// its timestamp is within tolerance of now (a receiver's side; also used by the tests).
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	mac, herr := hex.DecodeString(v1)
	if err != nil || herr != nil {
		return fmt.Errorf("%w: malformed header %q", ErrSignature, header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %s away from now", ErrSignature, ts, d)
	}
	if !hmac.Equal(mac, webhookMAC(secret, ts, body)) {
		return ErrSignature
	}
	return nil
}

// send does one HTTP try: a 2xx is success; 408, 429, 5xx and network errors are worth another
// try; any other status is a refusal (ErrPermanent). hide lists strings (a whole phone number) to
// mask in the error's excerpt of the answer.
//
// The error goes to the outbox row's last_error, GET /v1/notifications and the log, so the hidden
// strings are masked in all of it: the gateway's answer, and the URL, whose query an SMS gateway's
// template may fill with the phone (hidePhones).
func send(c *http.Client, req *http.Request, hide []string) error {
	target := hidePhones(req.URL.Redacted(), hide)
	resp, err := c.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry a key in its query
		}
		return fmt.Errorf("hub: %s %s: %w", req.Method, target, hiddenError{err, hide})
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	text := hidePhones(strings.TrimSpace(string(b)), hide)
	err = fmt.Errorf("hub: %s %s: HTTP %d: %s", req.Method, target, resp.StatusCode, text)
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}
