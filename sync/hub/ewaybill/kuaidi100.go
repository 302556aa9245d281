package ewaybill

import (
	"bytes"
	"context"
	"crypto/md5"
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
)

// DefaultKuaidi100URL is the 快递100 e-waybill V2 endpoint.
const DefaultKuaidi100URL = "https://api.kuaidi100.com/label/order"

// Kuaidi100Codes maps wedge carrier codes to Kuaidi100 company codes (kuaidicom). jt, chinapost
// and deppon come from a third-party list only and are UNCERTAIN until checked against Kuaidi100's
// own code table.
var Kuaidi100Codes = map[string]string{
	"sf": "shunfeng", "zto": "zhongtong", "yto": "yuantong", "yunda": "yunda", "sto": "shentong",
	"jd": "jd", "ems": "ems",
	"jt": "jtexpress", "chinapost": "youzhengguonei", "deppon": "debangkuaidi", // UNCERTAIN
}

// Account is one carrier's account at Kuaidi100. Which fields a carrier needs depends on the
// carrier (Net names a platform account: cainiao, taobao, jdalpha …).
type Account struct {
	PartnerID, PartnerKey, PartnerSecret, PartnerName, Code, Net string
	ExpType, PayType, TempID                                     string // optional product, payment and template
}

// Kuaidi100Options configure the Kuaidi100 adapter. Key and Secret are required.
type Kuaidi100Options struct {
	URL         string             // default DefaultKuaidi100URL
	Key, Secret string             // the API key and the signing secret
	Accounts    map[string]Account // by wedge carrier code; a carrier without one is refused (ErrPermanent)
	Sender      Party              // the shipper printed on every label
	PrintType   string             // default "NON": the number only, no label
	Client      *http.Client       // default: a client with a 30 s timeout
	Clock       clock.Clock        // the t parameter (nil = real time)
}

// Kuaidi100 is the adapter for 快递100 e-waybill V2 (POST label/order, method=order).
type Kuaidi100 struct{ o Kuaidi100Options }

// NewKuaidi100 checks opts and returns the adapter.
func NewKuaidi100(opts Kuaidi100Options) (*Kuaidi100, error) {
	if opts.Key == "" || opts.Secret == "" {
		return nil, errors.New("ewaybill: kuaidi100 needs a key and a secret")
	}
	if opts.URL == "" {
		opts.URL = DefaultKuaidi100URL
	}
	if opts.PrintType == "" {
		opts.PrintType = "NON"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	opts.Clock = clock.Or(opts.Clock)
	for c := range opts.Accounts {
		if _, ok := Kuaidi100Codes[c]; !ok {
			return nil, fmt.Errorf("ewaybill: kuaidi100 has no company code for carrier %q", c)
		}
	}
	return &Kuaidi100{o: opts}, nil
}

// Sign is the request signature: uppercase hex MD5(param + t + key + secret).
func Sign(param, t, key, secret string) string {
	sum := md5.Sum([]byte(param + t + key + secret))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// kdMan is recMan / sendMan.
type kdMan struct {
	Name      string `json:"name"`
	Mobile    string `json:"mobile"`
	PrintAddr string `json:"printAddr"`
	Company   string `json:"company,omitempty"`
}

// kdParam is the param JSON of method=order. No order id is sent: the reference names no
// idempotency field, and whether Kuaidi100 detects a duplicate submission is UNCERTAIN.
type kdParam struct {
	Kuaidicom     string `json:"kuaidicom"`
	PartnerID     string `json:"partnerId,omitempty"`
	PartnerKey    string `json:"partnerKey,omitempty"`
	PartnerSecret string `json:"partnerSecret,omitempty"`
	PartnerName   string `json:"partnerName,omitempty"`
	Code          string `json:"code,omitempty"`
	Net           string `json:"net,omitempty"`
	RecMan        kdMan  `json:"recMan"`
	SendMan       kdMan  `json:"sendMan"`
	Cargo         string `json:"cargo,omitempty"`
	Count         int    `json:"count"`
	PayType       string `json:"payType,omitempty"`
	ExpType       string `json:"expType,omitempty"`
	TempID        string `json:"tempId,omitempty"`
	PrintType     string `json:"printType"`
}

// kdReply is the answer: {success, code, message, data}. code is read as a number or a string.
type kdReply struct {
	Success bool            `json:"success"`
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Data    struct {
		Kuaidinum string          `json:"kuaidinum"`
		ChildNum  json.RawMessage `json:"childNum"` // a string or a list: UNCERTAIN
		ReturnNum string          `json:"returnNum"`
		Label     string          `json:"label"`
		TaskID    string          `json:"taskId"`
		Bulkpen   string          `json:"bulkpen"`
	} `json:"data"`
}

func man(p Party) kdMan {
	return kdMan{Name: p.Name, Mobile: p.Mobile, PrintAddr: p.Address, Company: p.Company}
}

// Apply sends method=order and returns the number.
func (k *Kuaidi100) Apply(ctx context.Context, req Request) (Waybill, error) {
	acc, ok := k.o.Accounts[req.Carrier]
	if !ok {
		return Waybill{}, fmt.Errorf("%w: no kuaidi100 account for carrier %q", ErrPermanent, req.Carrier)
	}
	p := kdParam{
		Kuaidicom: Kuaidi100Codes[req.Carrier], PartnerID: acc.PartnerID, PartnerKey: acc.PartnerKey,
		PartnerSecret: acc.PartnerSecret, PartnerName: acc.PartnerName, Code: acc.Code, Net: acc.Net,
		RecMan: man(req.Recipient), SendMan: man(req.Sender), Cargo: req.Cargo, Count: max(req.Parcels, 1),
		PayType: acc.PayType, ExpType: acc.ExpType, TempID: acc.TempID, PrintType: k.o.PrintType,
	}
	if p.SendMan == (kdMan{}) {
		p.SendMan = man(k.o.Sender)
	}
	var r kdReply
	if err := k.call(ctx, "order", p, &r); err != nil {
		return Waybill{}, err
	}
	if r.Data.Kuaidinum == "" {
		return Waybill{}, fmt.Errorf("%w: kuaidi100 answered success without kuaidinum", ErrPermanent)
	}
	return Waybill{Number: r.Data.Kuaidinum, ChildNumbers: childNums(r.Data.ChildNum), ReturnNumber: r.Data.ReturnNum,
		Label: r.Data.Label, TaskID: r.Data.TaskID, SortCode: r.Data.Bulkpen}, nil
}

// Cancel is not implemented: the reference this adapter follows does not describe Kuaidi100's
// cancel call, and guessing its shape could leave a number in use that wedge believes returned.
func (k *Kuaidi100) Cancel(context.Context, string, string) error {
	return fmt.Errorf("%w: kuaidi100 cancel is not implemented (its request shape is not documented here)", ErrPermanent)
}

// call posts one signed form and decodes a successful reply into out; it classifies failures.
func (k *Kuaidi100) call(ctx context.Context, method string, param any, out *kdReply) error {
	pj, err := json.Marshal(param)
	if err != nil {
		return fmt.Errorf("%w: encode param: %v", ErrPermanent, err)
	}
	t := strconv.FormatInt(k.o.Clock.Now().UnixMilli(), 10)
	form := url.Values{"method": {method}, "key": {k.o.Key}, "t": {t}, "param": {string(pj)},
		"sign": {Sign(string(pj), t, k.o.Key, k.o.Secret)}}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, k.o.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := k.o.Client.Do(hr)
	if err != nil {
		return fmt.Errorf("%w: kuaidi100: %v", ErrRetryable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: kuaidi100: read reply: %v", ErrRetryable, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%w: kuaidi100: HTTP %d", ErrRetryable, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: kuaidi100: HTTP %d: %s", ErrPermanent, resp.StatusCode, excerpt(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: kuaidi100: reply is not JSON: %v: %s", ErrRetryable, err, excerpt(body))
	}
	return classify(replyCode(out.Code), out.Success, out.Message)
}

// classify maps the reply code: 200 ok; 30004 (quota) retryable, since topping the account up
// fixes it without touching the order; 30001 params, 30002 sign, 30003 account and any code this
// adapter does not know are permanent.
func classify(code string, success bool, msg string) error {
	switch {
	case code == "200" && success:
		return nil
	case code == "30004":
		return fmt.Errorf("%w: kuaidi100 %s (quota): %s", ErrRetryable, code, msg)
	default:
		return fmt.Errorf("%w: kuaidi100 %s: %s", ErrPermanent, code, msg)
	}
}

func replyCode(raw json.RawMessage) string {
	return strings.Trim(string(bytes.TrimSpace(raw)), `"`)
}

func childNums(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return strings.Split(s, ",")
	}
	return nil
}

func excerpt(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
