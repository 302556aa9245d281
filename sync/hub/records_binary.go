package hub

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Binary records: the order record (bucket orders, hub_orders) and the central index row
// (cx_orders, hub_cx_orders) are written in a compact hand-written encoding instead of JSON. Both
// are read and rewritten for every entry that moves an order, and their JSON (seven time fields
// parsed and formatted, every key matched by reflection) was most of the hub's ingest CPU.
//
// A binary record starts with recTag, a byte that can never start a JSON document (JSON starts
// with '{', '[', a letter, a digit, '"', '-' or white space), so a reader tells the two apart by
// the first byte and reads every record written before (JSON) as it did. docs/HUB-STORE.md
// ("Record encodings") describes the layout.
//
// Layout after the tag: a uvarint layout version, then the fields in a fixed order, each as
//
//	string   uvarint length, bytes
//	uint     uvarint
//	bool     one byte, 0 or 1
//	time     one byte 0 (zero time), 1 (UTC: varint Unix seconds, uvarint nanoseconds) or
//	         2 (with an offset: the same, then a varint offset east of UTC in seconds)
//	list     uvarint count, then the items
//
// and nothing after the last field: a record is read whole or refused (ErrStore).
const recTag = 0x02

// indexBinVersion is the layout version of a binary index row.
const indexBinVersion = 1

// errShort is what a truncated binary record reports (wrapped in ErrStore by the callers).
var errShort = errors.New("truncated binary record")

// recWriter appends the fields of a binary record.
type recWriter struct{ b []byte }

func (w *recWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *recWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *recWriter) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *recWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// time writes t as JSON would keep it: instant and offset (no monotonic reading, no zone name);
// a zero time (in any location) is the zero time.
func (w *recWriter) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0)
		return
	}
	_, off := t.Zone()
	if off == 0 {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 2)
	}
	w.b = binary.AppendVarint(w.b, t.Unix())
	w.b = binary.AppendUvarint(w.b, uint64(t.Nanosecond()))
	if off != 0 {
		w.b = binary.AppendVarint(w.b, int64(off))
	}
}

// recReader reads the fields of a binary record. Strings are substrings of one copy of the record
// (s), so a record costs one allocation for all its strings; the first error sticks.
type recReader struct {
	s   string
	i   int
	err error
}

func (r *recReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *recReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := uvarintString(r.s[r.i:])
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.i += n
	return v
}

func (r *recReader) int() int64 {
	u := r.uint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint writes it
}

// length reads a length that must fit in what is left of the record.
func (r *recReader) length() int {
	n := r.uint()
	if r.err == nil && n > uint64(len(r.s)-r.i) {
		r.fail(errShort)
		return 0
	}
	return int(n)
}

func (r *recReader) str() string {
	n := r.length()
	if r.err != nil {
		return ""
	}
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}

func (r *recReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.i >= len(r.s) {
		r.fail(errShort)
		return 0
	}
	c := r.s[r.i]
	r.i++
	return c
}

func (r *recReader) bool() bool {
	switch c := r.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("bool byte %d at offset %d", c, r.i-1))
		return false
	}
}

// time reads what recWriter.time wrote, in the location encoding/json's reading of the same
// RFC 3339 text gives: UTC for offset 0, time.Local when its offset at that instant is the same,
// else a fixed zone without a name (time.Parse's rule).
func (r *recReader) time() time.Time {
	kind := r.byte()
	if kind == 0 || r.err != nil {
		return time.Time{}
	}
	if kind > 2 {
		r.fail(fmt.Errorf("time kind %d at offset %d", kind, r.i-1))
		return time.Time{}
	}
	sec, nsec := r.int(), r.uint()
	if nsec >= 1e9 {
		r.fail(fmt.Errorf("time nanoseconds %d out of range", nsec))
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if kind == 1 {
		return t.UTC()
	}
	off := r.int()
	if off == 0 || off < math.MinInt32 || off > math.MaxInt32 {
		r.fail(fmt.Errorf("time offset %d out of range", off))
		return time.Time{}
	}
	if _, lo := t.In(time.Local).Zone(); int64(lo) == off {
		return t.In(time.Local)
	}
	return t.In(time.FixedZone("", int(off)))
}

// done reports the first error, or an error when bytes are left after the last field.
func (r *recReader) done() error {
	if r.err == nil && r.i != len(r.s) {
		r.err = fmt.Errorf("%d bytes after the last field", len(r.s)-r.i)
	}
	return r.err
}

// uvarintString is binary.Uvarint over a string (no copy to a []byte).
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		if i == binary.MaxVarintLen64 {
			return 0, -(i + 1) // overflow
		}
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// isBinaryRecord reports whether raw is a binary record (not JSON).
func isBinaryRecord(raw []byte) bool { return len(raw) > 0 && raw[0] == recTag }

// appendOrderBinary appends s as a binary order record (layout version orderVersion).
func appendOrderBinary(dst []byte, s storedOrder) []byte {
	w := recWriter{b: dst}
	w.b = append(w.b, recTag)
	w.uint(orderVersion)
	w.str(s.Site)
	w.str(s.CreatedAt)
	w.str(s.UpdatedAt)
	w.str(s.BalancePaidAt)
	w.bytes(s.Versions.bytes())
	f := s.Order
	w.str(f.ID)
	w.str(f.Channel)
	w.str(f.ChannelOrderNo)
	w.str(f.BuyerID)
	w.time(f.OrderedAt)
	w.time(f.PaidAt)
	w.uint(uint64(len(f.SKUs)))
	for _, sku := range f.SKUs {
		w.str(sku)
	}
	w.str(f.Payment)
	w.str(f.Recipient)
	w.str(f.Carrier)
	w.str(f.AssignedWaybill)
	w.str(f.Waybill)
	w.str(f.State)
	w.time(f.StateSince)
	w.time(f.PendingSince)
	w.time(f.ReceivedAt)
	w.time(f.PrintedAt)
	w.time(f.PickedUpAt)
	w.str(f.RecipientName)
	w.str(f.RecipientPhone)
	w.str(f.RecipientAddress)
	w.uint(f.Version)
	w.uint(f.AddressVersion)
	w.uint(f.LabelVersion)
	w.bool(f.LabelOutdated)
	ic := f.Intercept
	w.uint(ic.ID)
	w.str(ic.Status)
	w.str(ic.Reason)
	w.time(ic.At)
	w.str(ic.By)
	w.str(ic.Note)
	w.time(ic.ResolvedAt)
	return w.b
}

// decodeOrderBinary reads a binary order record (raw starts with recTag). The versions stay as
// stored (JSON, decoded on demand: versionList).
func decodeOrderBinary(raw []byte) (storedOrder, error) {
	r := recReader{s: string(raw[1:])}
	var s storedOrder
	v := r.uint()
	if r.err == nil && v != orderVersion {
		return s, fmt.Errorf("record version %d; this hub reads up to %d (a newer hub wrote it)", v, orderVersion)
	}
	s.V = int(v)
	s.Site = r.str()
	s.CreatedAt = r.str()
	s.UpdatedAt = r.str()
	s.BalancePaidAt = r.str()
	if vs := r.str(); vs != "" {
		s.Versions.raw = []byte(vs)
	}
	f := &s.Order
	f.ID = r.str()
	f.Channel = r.str()
	f.ChannelOrderNo = r.str()
	f.BuyerID = r.str()
	f.OrderedAt = r.time()
	f.PaidAt = r.time()
	if n := r.length(); n > 0 { // each SKU takes at least one byte, so n is bounded by the record
		f.SKUs = make([]string, n)
		for i := range f.SKUs {
			f.SKUs[i] = r.str()
		}
	}
	f.Payment = r.str()
	f.Recipient = r.str()
	f.Carrier = r.str()
	f.AssignedWaybill = r.str()
	f.Waybill = r.str()
	f.State = r.str()
	f.StateSince = r.time()
	f.PendingSince = r.time()
	f.ReceivedAt = r.time()
	f.PrintedAt = r.time()
	f.PickedUpAt = r.time()
	f.RecipientName = r.str()
	f.RecipientPhone = r.str()
	f.RecipientAddress = r.str()
	f.Version = r.uint()
	f.AddressVersion = r.uint()
	f.LabelVersion = r.uint()
	f.LabelOutdated = r.bool()
	ic := &f.Intercept
	ic.ID = r.uint()
	ic.Status = r.str()
	ic.Reason = r.str()
	ic.At = r.time()
	ic.By = r.str()
	ic.Note = r.str()
	ic.ResolvedAt = r.time()
	return s, r.done()
}

// EncodeOrderIndex is the stored form of a central index row (both stores keep it as bytes): a
// binary record. DecodeOrderIndex reads it and the JSON rows written before.
func EncodeOrderIndex(ix OrderIndex) []byte {
	n := 2 + len(ix.OrderID) + len(ix.Site) + len(ix.Agent) + len(ix.State) + len(ix.Since) + len(ix.ChannelOrderNo) +
		len(ix.Waybill) + len(ix.AssignedWaybill) + len(ix.Fingerprint) + 9*2
	w := recWriter{b: make([]byte, 0, n)}
	w.b = append(w.b, recTag)
	w.uint(indexBinVersion)
	w.str(ix.OrderID)
	w.str(ix.Site)
	w.str(ix.Agent)
	w.str(ix.State)
	w.str(ix.Since)
	w.str(ix.ChannelOrderNo)
	w.str(ix.Waybill)
	w.str(ix.AssignedWaybill)
	w.str(ix.Fingerprint)
	return w.b
}

// DecodeOrderIndex reads a stored central index row, binary or JSON; a row it cannot read is an
// error wrapping ErrStore.
func DecodeOrderIndex(raw []byte) (OrderIndex, error) {
	var ix OrderIndex
	if !isBinaryRecord(raw) {
		if err := json.Unmarshal(raw, &ix); err != nil {
			return OrderIndex{}, fmt.Errorf("%w: order index: %v", ErrStore, err)
		}
		return ix, nil
	}
	r := recReader{s: string(raw[1:])}
	if v := r.uint(); r.err == nil && v != indexBinVersion {
		return OrderIndex{}, fmt.Errorf("%w: order index row in layout version %d; this hub reads up to %d (a newer hub wrote it)",
			ErrStore, v, indexBinVersion)
	}
	ix.OrderID = r.str()
	ix.Site = r.str()
	ix.Agent = r.str()
	ix.State = r.str()
	ix.Since = r.str()
	ix.ChannelOrderNo = r.str()
	ix.Waybill = r.str()
	ix.AssignedWaybill = r.str()
	ix.Fingerprint = r.str()
	if err := r.done(); err != nil {
		return OrderIndex{}, fmt.Errorf("%w: order index: %v", ErrStore, err)
	}
	return ix, nil
}
