package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wedge/internal/msgtmpl"
)

// SMSOptions configure an SMS gateway reached over HTTP (hub.yaml notify.channels, type sms). The
// URL, the headers' values and the body are templates over SMSFields; the body's values are
// escaped with Escape (json: inside a JSON string; form: a URL-encoded value; raw). Vendors that
// want their own request signing (Aliyun, Tencent) are reached through a gateway of one's own
// that speaks this.
type SMSOptions struct {
	URL     *msgtmpl.Template // values URL-encoded
	Method  string            // default POST
	Headers map[string]*msgtmpl.Template
	Body    *msgtmpl.Template
	Escape  msgtmpl.Escape // nil: msgtmpl.JSONString
	Timeout time.Duration  // one try (default DefaultChannelTimeout)
	Client  *http.Client   // nil: a client with Timeout
}

// SMS sends a notice to the customer's phone through the gateway. A notice without a phone is
// refused (ErrPermanent).
type SMS struct{ o SMSOptions }

// NewSMS returns an SMS channel.
func NewSMS(o SMSOptions) (*SMS, error) {
	if o.URL == nil {
		return nil, fmt.Errorf("%w: an SMS gateway needs a URL", ErrOptions)
	}
	if o.Method == "" {
		o.Method = http.MethodPost
	}
	if o.Escape == nil {
		o.Escape = msgtmpl.JSONString
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultChannelTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	return &SMS{o: o}, nil
}

// Deliver implements Channel. The gateway's 2xx is success; a gateway that answers errors inside a
// 2xx is not understood (see docs/PROTOCOL.md).
func (s *SMS) Deliver(ctx context.Context, n Notice) error {
	if n.Phone == "" {
		return fmt.Errorf("%w: 订单没有收件人电话 / the order has no recipient phone", ErrPermanent)
	}
	vals := map[string]string{"phone": n.Phone, "text": n.Text, "id": n.ID}
	for _, f := range []string{"order_id", "channel_order_no", "waybill"} {
		vals[f] = n.Fields[f]
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	var body *strings.Reader
	if s.o.Body != nil {
		body = strings.NewReader(s.o.Body.Render(vals, s.o.Escape))
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, s.o.Method, s.o.URL.Render(vals, msgtmpl.Escapes["form"]), body)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	for k, v := range s.o.Headers {
		req.Header.Set(k, v.Render(vals, nil))
	}
	req.Header.Set(HeaderIdempotencyKey, `"`+n.ID+`"`)
	return send(s.o.Client, req, []string{n.Phone})
}
