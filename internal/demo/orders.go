package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"wedge/sync/wire"
)

// Channel data contracts of the demo agents' configuration (order_no_pattern per channel). The
// generator makes numbers that fit them, except for the orders it breaks on purpose.
var channelContracts = []struct{ Name, Pattern string }{
	{"tmall", `^\d{12,20}$`},
	{"jd", `^\d{12,16}$`},
	{"douyin", `^\d{16,19}$`},
	{"pdd", `^\d{6}-\d{15}$`},
}

// carriers the generator assigns waybills from; each number is valid for order/waybill.
var demoCarriers = []string{"sf", "yto", "zto", "jt"}

var skus = []string{
	"A1023-BLK-XL", "A1023-WHT-M", "B2207-RED-S", "C0451-500ML", "D7788-2PK",
	"E3120-GRY-L", "F0099-1KG", "G5521-USB-C", "H6001-PINK", "K8800-64GB",
}

var surnames = []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"}

var addresses = []string{
	"广东省深圳市南山区****", "浙江省杭州市余杭区****", "上海市浦东新区****", "北京市朝阳区****",
	"江苏省苏州市工业园区****", "四川省成都市武侯区****", "湖北省武汉市洪山区****", "福建省厦门市思明区****",
}

// gen makes realistic orders. It is used by one goroutine only.
type gen struct {
	rnd *rand.Rand
	seq int
}

func newGen(seed uint64) *gen {
	return &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *gen) digits(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + g.rnd.IntN(10)))
	}
	return b.String()
}

// unique returns n digits (n ≥ 8) that differ for every call: random head, counter tail.
func (g *gen) unique(n int) string {
	g.seq++
	tail := fmt.Sprintf("%07d", g.seq%10_000_000)
	return g.digits(n-len(tail)) + tail
}

// channelOrderNo makes a channel order number that fits the channel's contract.
func (g *gen) channelOrderNo(channel string, now time.Time) string {
	switch channel {
	case "tmall": // 18 digits
		return string(byte('1'+g.rnd.IntN(9))) + g.unique(17)
	case "jd": // 12 digits
		return string(byte('1'+g.rnd.IntN(9))) + g.unique(11)
	case "douyin": // 19 digits
		return "69" + g.unique(17)
	case "pdd": // yymmdd-15 digits
		return now.Format("060102") + "-" + g.unique(15)
	}
	return g.unique(16)
}

// badOrderNo makes a channel order number that breaks the channel's contract the way real feeds do:
// a masked number, a truncated one, or one with a prefix.
func (g *gen) badOrderNo(channel string) string {
	switch g.rnd.IntN(3) {
	case 0:
		return strings.ToUpper(channel[:2]) + "2026XXXXX" + g.digits(2) // masked by the channel
	case 1:
		return g.digits(8) // truncated
	}
	return "NO." + g.digits(14)
}

// waybillNo makes a waybill number of the carrier that order/waybill accepts.
func (g *gen) waybillNo(carrier string) string {
	switch carrier {
	case "sf":
		return "SF" + string(byte('1'+g.rnd.IntN(9))) + g.unique(12)
	case "yto":
		return "YT" + string(byte('1'+g.rnd.IntN(9))) + g.unique(12)
	case "zto":
		return "7" + string("34568"[g.rnd.IntN(5)]) + g.unique(12)
	case "jt":
		return "JT" + string(byte('1'+g.rnd.IntN(9))) + g.unique(12)
	}
	panic("demo: no waybill format for carrier " + carrier)
}

// badWaybill is what a scanner reads off a damaged or wrong label for wb: too short for its carrier.
func (g *gen) badWaybill(wb string) string {
	return wb[:len(wb)-3]
}

// productBarcode is an EAN-13 product code (prefix 69 = China): a parcel's other barcode, which
// operators scan by mistake. It is neither an order, a waybill nor a badge.
func (g *gen) productBarcode() string {
	d := "69" + g.digits(10)
	sum := 0
	for i, c := range d {
		v := int(c - '0')
		if i%2 == 1 {
			v *= 3
		}
		sum += v
	}
	return d + string(byte('0'+(10-sum%10)%10))
}

func (g *gen) buyerID(channel string) string {
	prefix := map[string]string{"tmall": "tb", "jd": "jd", "douyin": "dy", "pdd": "pdd"}[channel]
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteString(prefix + "_")
	for i := 0; i < 10; i++ {
		b.WriteByte(hex[g.rnd.IntN(16)])
	}
	return b.String()
}

// recipient is a masked recipient: surname, masked mobile, masked address.
func (g *gen) recipient() string {
	return fmt.Sprintf("%s** 1%d%d****%s %s", surnames[g.rnd.IntN(len(surnames))], 3+g.rnd.IntN(7), g.rnd.IntN(10),
		g.digits(4), addresses[g.rnd.IntN(len(addresses))])
}

// order makes one order message. deposit makes a presale order (only the deposit paid); bad breaks
// the channel's data contract.
func (g *gen) order(now time.Time, deposit, bad bool) wire.OrderMsg {
	ch := channelContracts[g.rnd.IntN(len(channelContracts))].Name
	carrier := demoCarriers[g.rnd.IntN(len(demoCarriers))]
	ordered := now.Add(-time.Duration(1+g.rnd.IntN(180)) * time.Minute)
	m := wire.OrderMsg{
		Type:      wire.TypeOrder,
		Channel:   ch,
		BuyerID:   g.buyerID(ch),
		OrderedAt: wire.Time(ordered),
		PaidAt:    wire.Time(ordered.Add(time.Duration(10+g.rnd.IntN(300)) * time.Second)),
		Payment:   "full",
		Carrier:   carrier,
		Waybill:   g.waybillNo(carrier),
		Recipient: g.recipient(),
	}
	if deposit {
		m.Payment = "deposit"
	}
	if bad {
		m.ChannelOrderNo = g.badOrderNo(ch)
	} else {
		m.ChannelOrderNo = g.channelOrderNo(ch, now)
	}
	n := 1 + g.rnd.IntN(3)
	for i := 0; i < n; i++ {
		m.SKUs = append(m.SKUs, skus[g.rnd.IntN(len(skus))])
	}
	return m
}

// malformedBody returns a request body that the hub must refuse, and what is wrong with it.
func (g *gen) malformedBody(site string) (string, string) {
	switch g.rnd.IntN(3) {
	case 0:
		return `{"site":"` + site + `","orders":[{"type":"order","channel":"tmall","channel_order_no":"` + g.digits(18) + `",`, "截断的 JSON truncated JSON"
	case 1:
		return `{"site":"` + site + `","orders":[{"type":"order","channel":"jd","skus":"A1023-BLK-XL","ordered_at":"昨天"}]}`, "字段类型错误 wrong field types"
	}
	return `{"site":"` + site + `","orders":[{"type":"refund","order_id":"X"}]}`, "未知消息类型 unknown message type"
}

// malformedDownlink is what a faulty publisher puts on the site's downlink topic: truncated JSON,
// binary noise or a JSON value that is no message.
func (g *gen) malformedDownlink() []byte {
	switch g.rnd.IntN(3) {
	case 0:
		return []byte(`{"type":"order","channel":"tmall","channel_order_no":"` + g.digits(18) + `","skus":["A1023`)
	case 1:
		return []byte{0x00, 0x1f, 0x8b, 0x08, 0xff, 'o', 'r', 'd', 'e', 'r'}
	}
	return []byte(`"order ` + g.digits(6) + `"`)
}
