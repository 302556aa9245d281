package hub

import "wedge/sync/wire"

// relayTracking numbers a tracking downlink message for the site of order orderID: every carrier
// event stored for the first time for a known order reaches that site's agents, under either
// pickup policy, signed when published like the rest of the downlink. It moves nothing: the agents
// journal it as a note, and only the first_scan message (firstScanned) may make an order 已揽收.
// An order the hub holds no record of relays nothing.
func (g *group) relayTracking(orderID string, e TrackingEvent) error {
	rec, known, err := loadOrder(g.tx, orderID)
	if err != nil || !known || rec.Site == "" {
		return err
	}
	_, err = g.downlink(rec.Site, wire.OrderMsg{Type: wire.TypeTracking, OrderID: orderID, Carrier: e.Carrier, Waybill: e.Waybill,
		Event: e.Event, At: wire.Time(e.At)})
	return err
}
