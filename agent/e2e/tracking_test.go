package e2e

import (
	"testing"

	"wedge/order"
	"wedge/sync/wire"
)

// trackedOrder is an order as the agent's API shows it, with its latest carrier event.
type trackedOrder struct {
	Order struct {
		State    string             `json:"state"`
		Tracking order.CarrierEvent `json:"tracking"`
	} `json:"order"`
	History []wire.Entry `json:"history"`
}

// tracked reads order id from the agent's API (ok false when it cannot be read).
func (a *agentProc) tracked(t *testing.T, id string) (o trackedOrder, ok bool) {
	t.Helper()
	a.alive()
	code, err := getJSON("http://"+a.addr+"/api/v1/orders/"+id, &o)
	return o, err == nil && code == 200
}

// carrierNotes counts the carrier event notes of an order's history by event; any other entry
// with trigger carrier that is not a step to 已揽收 is counted under "?".
func carrierNotes(h []wire.Entry) map[string]int {
	n := map[string]int{}
	for _, e := range h {
		if ev, ok := order.ParseCarrierNote(e); ok {
			n[ev.Event]++
		} else if e.Trigger == wire.TriggerCarrier && !(e.Kind == wire.KindStep && e.To == string(order.PickedUp)) {
			n["?"]++
		}
	}
	return n
}
