package wire

import (
	"encoding/json"
	"unicode/utf8"
)

// DecodeBatch decodes an uplink batch body (the signed envelope already removed): exactly what
// json.Unmarshal(body, &b) yields for a fresh Batch b, the same error included. The batches an
// uplink writes (known keys, each once, unescaped valid UTF-8 strings, plain integers) are read by
// hand without reflection; anything else — an escape, an unknown, repeated or differently-cased
// key (encoding/json matches keys case-insensitively), a null, a number that is not a plain uint64,
// a wrong type, invalid JSON — makes the whole body go through json.Unmarshal instead, so the
// result is encoding/json's by construction.
func DecodeBatch(body []byte) (Batch, error) {
	if b, ok := decodeBatchFast(body); ok {
		return b, nil
	}
	var b Batch
	err := json.Unmarshal(body, &b)
	return b, err
}

// DecodeOrderMsg decodes one downlink message object: exactly what json.Unmarshal(raw, &m) yields
// for a fresh OrderMsg m, read by hand on the same terms as DecodeBatch.
func DecodeOrderMsg(raw []byte) (OrderMsg, error) {
	d := decoder{b: raw}
	var m OrderMsg
	d.ws()
	if d.order(&m) {
		d.ws()
		if d.i == len(d.b) {
			return m, nil
		}
	}
	m = OrderMsg{}
	err := json.Unmarshal(raw, &m)
	return m, err
}

// decodeBatchFast is DecodeBatch's hand-written path; ok is false when body is anything but the
// plain shape it reads (then nothing of b may be used).
func decodeBatchFast(body []byte) (b Batch, ok bool) {
	d := decoder{b: body}
	d.ws()
	if !d.batch(&b) {
		return Batch{}, false
	}
	d.ws()
	return b, d.i == len(d.b)
}

// decoder reads JSON from b at i. Each method returns false as soon as the input is not the plain
// shape it handles; the caller then gives up the fast path.
type decoder struct {
	b []byte
	i int
}

// ws skips JSON whitespace.
func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// tok consumes c (after whitespace).
func (d *decoder) tok(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// peek reports whether the next byte (after whitespace) is c, without consuming it.
func (d *decoder) peek(c byte) bool {
	d.ws()
	return d.i < len(d.b) && d.b[d.i] == c
}

// raw reads a string without escapes, control characters or invalid UTF-8 (the only strings
// encoding/json returns unchanged) and returns its bytes.
func (d *decoder) raw() ([]byte, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// str reads a string value into *p.
func (d *decoder) str(p *string) bool {
	s, ok := d.raw()
	if ok {
		*p = string(s)
	}
	return ok
}

// uint reads a plain non-negative integer that fits a uint64 into *p: no sign, fraction, exponent
// or leading zero (encoding/json refuses the first three for a uint64 and the last as JSON).
func (d *decoder) uint(p *uint64) bool {
	d.ws()
	start := d.i
	var n uint64
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c < '0' || c > '9' {
			break
		}
		if n > (1<<64-1)/10 || n*10 > 1<<64-1-uint64(c-'0') {
			return false // overflow
		}
		n = n*10 + uint64(c-'0')
		d.i++
	}
	if digits := d.i - start; digits == 0 || digits > 1 && d.b[start] == '0' {
		return false
	}
	*p = n
	return true
}

// object reads an object whose keys field handles: field is called with each key and reads its
// value. A key field does not know, or one seen before, ends the fast path (bit is the key's bit
// in the seen mask; at most 64 keys).
func (d *decoder) object(field func(key []byte) (bit uint, ok bool)) bool {
	if !d.tok('{') {
		return false
	}
	if d.tok('}') {
		return true
	}
	var seen uint64
	for {
		k, ok := d.raw()
		if !ok || !d.tok(':') {
			return false
		}
		bit, ok := field(k)
		if !ok || seen&(1<<bit) != 0 {
			return false
		}
		seen |= 1 << bit
		if d.tok(',') {
			continue
		}
		return d.tok('}')
	}
}

// array reads an array, calling elem for each element.
func (d *decoder) array(elem func() bool) bool {
	if !d.tok('[') {
		return false
	}
	if d.tok(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.tok(',') {
			continue
		}
		return d.tok(']')
	}
}

func (d *decoder) batch(b *Batch) bool {
	return d.object(func(k []byte) (uint, bool) {
		switch string(k) {
		case "site":
			return 0, d.str(&b.Site)
		case "agent":
			return 1, d.str(&b.Agent)
		case "journal_id":
			return 2, d.str(&b.JournalID)
		case "events":
			// An empty array is an empty, non-nil slice, as encoding/json makes it.
			b.Events = make([]Entry, 0, d.estimate())
			return 3, d.array(func() bool {
				b.Events = append(b.Events, Entry{})
				return d.entry(&b.Events[len(b.Events)-1])
			})
		}
		return 0, false
	})
}

// estimate guesses the number of entries of the array at d.i from its length (an uplink entry is
// 250–400 bytes), so the slice grows at most once or twice.
func (d *decoder) estimate() int {
	return min((len(d.b)-d.i)/256+1, MaxBatchEntries)
}

func (d *decoder) entry(e *Entry) bool {
	return d.object(func(k []byte) (uint, bool) {
		switch string(k) {
		case "journal_id":
			return 0, d.str(&e.JournalID)
		case "seq":
			return 1, d.uint(&e.Seq)
		case "kind":
			return 2, d.known(&e.Kind, kinds[:])
		case "order_id":
			return 3, d.str(&e.OrderID)
		case "from":
			return 4, d.str(&e.From)
		case "to":
			return 5, d.str(&e.To)
		case "waybill":
			return 6, d.str(&e.Waybill)
		case "carrier":
			return 7, d.str(&e.Carrier)
		case "station":
			return 8, d.str(&e.Station)
		case "device":
			return 9, d.str(&e.Device)
		case "operator":
			return 10, d.str(&e.Operator)
		case "trigger":
			return 11, d.known(&e.Trigger, triggers[:])
		case "reason":
			return 12, d.str(&e.Reason)
		case "detail":
			return 13, d.str(&e.Detail)
		case "code":
			return 14, d.str(&e.Code)
		case "job":
			return 15, d.str(&e.Job)
		case "label_version":
			return 16, d.uint(&e.LabelVersion)
		case "intercept_id":
			return 17, d.uint(&e.InterceptID)
		case "intercept":
			return 18, d.str(&e.Intercept)
		case "order":
			e.Order = new(OrderMsg)
			return 19, d.order(e.Order)
		case "at":
			return 20, d.str(&e.At)
		case "prev_hash":
			return 21, d.str(&e.PrevHash)
		case "hash":
			return 22, d.str(&e.Hash)
		}
		return 0, false
	})
}

func (d *decoder) order(m *OrderMsg) bool {
	return d.object(func(k []byte) (uint, bool) {
		switch string(k) {
		case "type":
			return 0, d.str(&m.Type)
		case "hseq":
			return 1, d.uint(&m.HSeq)
		case "order_id":
			return 2, d.str(&m.OrderID)
		case "channel":
			return 3, d.str(&m.Channel)
		case "channel_order_no":
			return 4, d.str(&m.ChannelOrderNo)
		case "buyer_id":
			return 5, d.str(&m.BuyerID)
		case "ordered_at":
			return 6, d.str(&m.OrderedAt)
		case "paid_at":
			return 7, d.str(&m.PaidAt)
		case "skus":
			m.SKUs = []string{} // an empty array is an empty, non-nil slice, as encoding/json makes it
			return 8, d.array(func() bool {
				var s string
				ok := d.str(&s)
				m.SKUs = append(m.SKUs, s)
				return ok
			})
		case "payment":
			return 9, d.str(&m.Payment)
		case "carrier":
			return 10, d.str(&m.Carrier)
		case "waybill":
			return 11, d.str(&m.Waybill)
		case "recipient":
			return 12, d.str(&m.Recipient)
		case "recipient_name":
			return 13, d.str(&m.RecipientName)
		case "recipient_phone":
			return 14, d.str(&m.RecipientPhone)
		case "recipient_address":
			return 15, d.str(&m.RecipientAddress)
		case "version":
			return 16, d.uint(&m.Version)
		case "reason":
			return 17, d.str(&m.Reason)
		case "state":
			return 18, d.str(&m.State)
		case "label_version":
			return 19, d.uint(&m.LabelVersion)
		case "intercept_id":
			return 20, d.uint(&m.InterceptID)
		case "intercept":
			return 21, d.str(&m.Intercept)
		case "at":
			return 22, d.str(&m.At)
		case "event":
			return 23, d.str(&m.Event)
		}
		return 0, false
	})
}

// The values of kind and trigger are a handful of constants: known reads them without allocating.
var (
	kinds    = [...]string{KindStep, KindReject, KindIntake, KindMerge, KindOperator, KindOverdue, KindBreaker, KindReprint, KindNote, KindUpdate, KindIntercept}
	triggers = [...]string{TriggerScan, TriggerPrint, TriggerManual, TriggerHub, TriggerSystem, TriggerCarrier}
)

// known reads a string value into *p, as the matching constant of consts when there is one.
func (d *decoder) known(p *string, consts []string) bool {
	s, ok := d.raw()
	if !ok {
		return false
	}
	for _, c := range consts {
		if string(s) == c {
			*p = c
			return true
		}
	}
	*p = string(s)
	return true
}
