package console

import (
	"time"

	"wedge/order"
)

// CarrierExceptionAlert is the popup for a carrier exception event of an order (a problem parcel,
// refused or returned, as the carrier reports it): the supervisor follows it up with the carrier.
func CarrierExceptionAlert(at time.Time, orderID string, ev order.CarrierEvent) Alert {
	return Alert{Kind: AlertCarrierException, At: at, Detail: "carrier " + ev.Carrier + ", waybill " + ev.Waybill + ", carrier's time " + ev.At.UTC().Format(time.RFC3339),
		Title: order.Message{
			ZH: "快递异常：订单 " + orderID + "（面单 " + ev.Waybill + "），请联系快递核实",
			EN: "Carrier exception: order " + orderID + " (waybill " + ev.Waybill + "), check with the carrier"}}
}
