package hub

import (
	"net/url"
	"strings"

	"wedge/order"
	"wedge/sync/wire"
)

// Where the hub shows or reports what it was given about a customer, the phone is masked: only the
// SMS gateway gets it whole (and the e-waybill provider, in its request). The hub's store keeps it
// whole for them (docs/SECURITY.md "Customer phone numbers").

// maskedVersions are an order's posted versions as GET /v1/orders/{id} shows them (to API tokens
// and to the central console alike): the phone masked, also inside a one-line recipient.
func maskedVersions(vs []wire.OrderMsg) []wire.OrderMsg {
	if vs == nil {
		return nil
	}
	out := make([]wire.OrderMsg, len(vs))
	for i, v := range vs {
		v.RecipientPhone = order.MaskPhone(v.RecipientPhone)
		v.Recipient = order.MaskLinePhones(v.Recipient)
		out[i] = v
	}
	return out
}

// hidePhones masks each of hide in s, as it is and in the URL-encoded forms a template may have
// given it (a query value, a path segment).
func hidePhones(s string, hide []string) string {
	for _, h := range hide {
		if strings.TrimSpace(h) == "" {
			continue
		}
		m := order.MaskPhone(h)
		q := url.QueryEscape(h)
		for _, form := range []string{h, q, url.PathEscape(h), strings.ReplaceAll(q, "+", "%20")} {
			s = strings.ReplaceAll(s, form, m)
		}
	}
	return s
}

// hiddenError is err with hide masked in its text; errors.Is and As still see err.
type hiddenError struct {
	err  error
	hide []string
}

func (e hiddenError) Error() string { return hidePhones(e.err.Error(), e.hide) }
func (e hiddenError) Unwrap() error { return e.err }

// providerError is an e-waybill provider's error as the hub records and logs it: the request's
// phone masked as sent, and any mainland mobile number (the provider may echo it normalised).
func providerError(err error, phone string) string {
	return order.MaskText(hidePhones(err.Error(), []string{phone}))
}
