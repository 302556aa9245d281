package oversight

import (
	"time"

	"wedge/agent/console"
	"wedge/order"
	"wedge/sync/wire"
)

// carrierException is the popup for a carrier exception event journaled by intake (a tracking
// message from the hub, see order.ParseCarrierNote); ok is false for any other entry. now stands
// in for an entry without a readable time.
func carrierException(e wire.Entry, now time.Time) (console.Alert, bool) {
	ev, ok := order.ParseCarrierNote(e)
	if !ok || ev.Event != wire.CarrierException {
		return console.Alert{}, false
	}
	at := now
	if t, err := wire.ParseTime(e.At); err == nil && !t.IsZero() {
		at = t
	}
	return console.CarrierExceptionAlert(at, e.OrderID, ev), true
}
