package wire

// AppendJSON appends m's JSON encoding to dst: exactly the bytes json.Marshal(m) writes (tests
// compare the two for every field, fuzzed). The hub stores and publishes every downlink message
// it numbers in this encoding; writing it by hand spares the reflection on the POST path.
func (m *OrderMsg) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, m.Type)
	dst = optUint(dst, `,"hseq":`, m.HSeq)
	dst = optStr(dst, `,"order_id":`, m.OrderID)
	dst = optStr(dst, `,"channel":`, m.Channel)
	dst = optStr(dst, `,"channel_order_no":`, m.ChannelOrderNo)
	dst = optStr(dst, `,"buyer_id":`, m.BuyerID)
	dst = optStr(dst, `,"ordered_at":`, m.OrderedAt)
	dst = optStr(dst, `,"paid_at":`, m.PaidAt)
	if len(m.SKUs) > 0 {
		dst = append(dst, `,"skus":[`...)
		for i, s := range m.SKUs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		dst = append(dst, ']')
	}
	dst = optStr(dst, `,"payment":`, m.Payment)
	dst = optStr(dst, `,"carrier":`, m.Carrier)
	dst = optStr(dst, `,"waybill":`, m.Waybill)
	dst = optStr(dst, `,"recipient":`, m.Recipient)
	dst = optStr(dst, `,"recipient_name":`, m.RecipientName)
	dst = optStr(dst, `,"recipient_phone":`, m.RecipientPhone)
	dst = optStr(dst, `,"recipient_address":`, m.RecipientAddress)
	dst = optUint(dst, `,"version":`, m.Version)
	dst = optStr(dst, `,"reason":`, m.Reason)
	dst = optStr(dst, `,"state":`, m.State)
	dst = optUint(dst, `,"label_version":`, m.LabelVersion)
	dst = optUint(dst, `,"intercept_id":`, m.InterceptID)
	dst = optStr(dst, `,"intercept":`, m.Intercept)
	dst = optStr(dst, `,"at":`, m.At)
	dst = optStr(dst, `,"event":`, m.Event)
	return append(dst, '}')
}
