// Package ewaybill obtains e-waybill numbers (电子面单号) from a carrier or an aggregator for
// orders that arrive at the hub without one. Provider is the small interface the hub uses; the
// Kuaidi100 adapter (kuaidi100.go) speaks the 快递100 e-waybill V2 API. Errors say whether a retry
// can help: ErrRetryable (network, 5xx, timeouts, quota) or ErrPermanent (the request or the
// account is wrong: retrying the same request gets the same answer).
package ewaybill

import (
	"context"
	"errors"
)

// Sentinel errors of a Provider. Every error a Provider returns wraps exactly one of them.
var (
	// ErrRetryable means the request may succeed later unchanged (network error, timeout, HTTP 5xx
	// or 429, quota exhausted).
	ErrRetryable = errors.New("ewaybill: temporary failure, will retry")
	// ErrPermanent means the provider refused the request; the same request will fail again
	// (bad parameters, bad signature, bad account, a carrier it has no account for).
	ErrPermanent = errors.New("ewaybill: refused by the provider")
)

// Party is a sender or recipient as providers want them.
type Party struct {
	Name, Mobile, Company string
	// Address is the full printable address (Kuaidi100's printAddr). Province, City and District
	// are optional separate parts (Cainiao wants them; wedge's orders carry one address line).
	Province, City, District, Address string
}

// Request is one order's request for a waybill number.
type Request struct {
	OrderID   string // the order's id; the idempotency key where the provider has one
	Carrier   string // wedge carrier code (order/waybill), e.g. "zto"
	Sender    Party
	Recipient Party
	Cargo     string // goods description
	Parcels   int    // 0 means 1
	WeightG   int    // 0: not given
}

// Waybill is what the provider returned.
type Waybill struct {
	Number       string   // the waybill number (Kuaidi100 kuaidinum)
	ChildNumbers []string // child numbers of a multi-parcel shipment
	ReturnNumber string   // return waybill number, when the carrier issues one
	Label        string   // short link to the label image/HTML (printType IMAGE/HTML)
	TaskID       string   // the provider's print task id (reprints)
	SortCode     string   // 大头笔 (bulkpen)
}

// Provider obtains and cancels e-waybill numbers.
type Provider interface {
	// Apply obtains a waybill number for req. Errors wrap ErrRetryable or ErrPermanent.
	Apply(ctx context.Context, req Request) (Waybill, error)
	// Cancel gives a number back to the carrier. Errors wrap ErrRetryable or ErrPermanent.
	Cancel(ctx context.Context, carrier, number string) error
}
