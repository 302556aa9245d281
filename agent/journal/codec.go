package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"wedge/order"
	"wedge/sync/wire"
)

// Stored records. Orders and entries are stored in one of two encodings, told apart by their
// first byte:
//
//   - '{': JSON (encoding/json of order.Order or wire.Entry), as every wedge before journal
//     format 2 wrote them. They are read as before and never rewritten.
//   - recBinary: a compact binary record, what this wedge writes (journal format 2). After the
//     tag byte come the fields in a fixed order: a string is a uvarint length and its bytes
//     (valid UTF-8), a number a uvarint, a flag one byte 0 or 1, a time one byte 0 (zero time)
//     or 1 followed by its Unix seconds (varint), nanoseconds (uvarint) and UTC offset in
//     minutes (varint; 0 means UTC), a list a uvarint count and its strings. A record must end
//     exactly after its last field.
//
// The binary record holds the values as they read back from JSON (strings with each invalid
// UTF-8 byte replaced by U+FFFD, times as RFC 3339 keeps them), so an order or entry reads back
// the same in both encodings, and the hash chain stays defined over an entry's canonical JSON
// (wire.Entry.Canonical), which the hub and auditors recompute: entryJSON writes those bytes
// without reflection, byte for byte what encoding/json writes (tests compare the two).
//
// The tag byte versions the layout: recBinary1 records (the first layout) lack the fields added
// since (an order message's carrier event, an order's latest carrier event) and read them as
// zero; recBinary is what this wedge writes.
const (
	recBinary1 byte = 0x01
	recBinary  byte = 0x02
)

// errRecord is a stored record that does not decode.
var errRecord = errors.New("record does not decode")

// isJSONRecord reports whether a stored value is a JSON record (the encoding before format 2).
func isJSONRecord(v []byte) bool { return len(v) > 0 && v[0] == '{' }

// --- normalising: values as they read back from JSON -------------------------------------------

// jsonText returns s as encoding/json reads it back: each byte of invalid UTF-8 becomes U+FFFD
// (encoding/json writes it as the escape \ufffd). Valid UTF-8 is returned as is.
func jsonText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}

func normStrings(ss ...*string) {
	for _, p := range ss {
		if !utf8.ValidString(*p) {
			*p = jsonText(*p)
		}
	}
}

func normList(l []string) []string {
	for i, s := range l {
		if !utf8.ValidString(s) {
			l = append([]string(nil), l...) // never write into the caller's slice
			for j := i; j < len(l); j++ {
				l[j] = jsonText(l[j])
			}
			return l
		}
	}
	return l
}

// normEntry turns e's strings into what they read back as from JSON.
func normEntry(e *wire.Entry) {
	normStrings(&e.JournalID, &e.Kind, &e.OrderID, &e.From, &e.To, &e.Waybill, &e.Carrier, &e.Station,
		&e.Device, &e.Operator, &e.Trigger, &e.Reason, &e.Detail, &e.Code, &e.Job, &e.Intercept, &e.At,
		&e.PrevHash, &e.Hash)
	if m := e.Order; m != nil && !orderMsgValid(m) {
		c := *m
		normStrings(&c.Type, &c.OrderID, &c.Channel, &c.ChannelOrderNo, &c.BuyerID, &c.OrderedAt, &c.PaidAt,
			&c.Payment, &c.Carrier, &c.Waybill, &c.Recipient, &c.RecipientName, &c.RecipientPhone,
			&c.RecipientAddress, &c.Reason, &c.State, &c.Intercept, &c.At, &c.Event)
		c.SKUs = normList(c.SKUs)
		e.Order = &c
	}
}

func orderMsgValid(m *wire.OrderMsg) bool {
	for _, s := range [...]string{m.Type, m.OrderID, m.Channel, m.ChannelOrderNo, m.BuyerID, m.OrderedAt, m.PaidAt,
		m.Payment, m.Carrier, m.Waybill, m.Recipient, m.RecipientName, m.RecipientPhone, m.RecipientAddress,
		m.Reason, m.State, m.Intercept, m.At, m.Event} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, s := range m.SKUs {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// normOrder turns o's strings and times into what they read back as from JSON. It fails as
// json.Marshal would (a time outside the years 0–9999).
func normOrder(o *order.Order) error {
	st := string(o.State)
	normStrings(&o.ID, &o.Channel, &o.ChannelOrderNo, &o.BuyerID, &o.Payment, &o.Recipient, &o.RecipientName,
		&o.RecipientPhone, &o.RecipientAddress, &o.Intercept.Status, &o.Intercept.Reason, &o.Intercept.By,
		&o.Intercept.Note, &o.Carrier, &o.AssignedWaybill, &o.Waybill, &st,
		&o.Tracking.Event, &o.Tracking.Carrier, &o.Tracking.Waybill)
	o.State = order.State(st)
	o.SKUs = normList(o.SKUs)
	for _, t := range [...]*time.Time{&o.OrderedAt, &o.PaidAt, &o.Intercept.At, &o.Intercept.ResolvedAt, &o.StateSince,
		&o.PendingSince, &o.QueuedSince, &o.ReceivedAt, &o.PrintedAt, &o.PickedUpAt, &o.HandedOverAt, &o.Tracking.At} {
		var err error
		if *t, err = jsonTime(*t); err != nil {
			return err
		}
	}
	return nil
}

// jsonTime returns t as it reads back from JSON (RFC 3339 with nanoseconds: the monotonic clock
// reading and the zone's name are dropped, an offset of 0 reads back as UTC, the local offset as
// time.Local), or json.Marshal's error.
func jsonTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, nil // omitzero: not written, reads back as the zero time
	}
	_, off := t.Zone()
	if off%60 != 0 { // RFC 3339 keeps whole minutes of the offset: take the round trip itself
		b, err := t.MarshalJSON()
		if err != nil {
			return t, err
		}
		var r time.Time
		err = r.UnmarshalJSON(b)
		return r, err
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return t, fmt.Errorf("time %v: year outside of range [0,9999]", t)
	}
	return zoned(t.Unix(), int64(t.Nanosecond()), off/60), nil
}

// zoned is the time at Unix seconds sec and nanoseconds nsec with a UTC offset of off minutes,
// with the location time.Parse gives it for an RFC 3339 text: UTC for offset 0 ("Z"), Local when
// Local has that offset then, else a fixed zone without name.
func zoned(sec, nsec int64, off int) time.Time {
	t := time.Unix(sec, nsec)
	if off == 0 {
		return t.UTC()
	}
	if _, lo := t.In(time.Local).Zone(); lo == off*60 {
		return t.In(time.Local)
	}
	return t.In(time.FixedZone("", off*60))
}

// --- binary records: writing ---------------------------------------------------------------------

func putStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func putBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// putTime writes a time already normalised by jsonTime.
func putTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	_, off := t.Zone()
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Unix())
	dst = binary.AppendUvarint(dst, uint64(t.Nanosecond()))
	return binary.AppendVarint(dst, int64(off/60))
}

func putList(dst []byte, l []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l)))
	for _, s := range l {
		dst = putStr(dst, s)
	}
	return dst
}

// appendEntryRecord appends the binary record of e (normalised by normEntry).
func appendEntryRecord(dst []byte, e *wire.Entry) []byte {
	dst = append(dst, recBinary)
	dst = putStr(dst, e.JournalID)
	dst = binary.AppendUvarint(dst, e.Seq)
	for _, s := range [...]string{e.Kind, e.OrderID, e.From, e.To, e.Waybill, e.Carrier, e.Station, e.Device,
		e.Operator, e.Trigger, e.Reason, e.Detail, e.Code, e.Job} {
		dst = putStr(dst, s)
	}
	dst = binary.AppendUvarint(dst, e.LabelVersion)
	dst = binary.AppendUvarint(dst, e.InterceptID)
	dst = putStr(dst, e.Intercept)
	if m := e.Order; m == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = putStr(dst, m.Type)
		dst = binary.AppendUvarint(dst, m.HSeq)
		for _, s := range [...]string{m.OrderID, m.Channel, m.ChannelOrderNo, m.BuyerID, m.OrderedAt, m.PaidAt} {
			dst = putStr(dst, s)
		}
		dst = putList(dst, m.SKUs)
		for _, s := range [...]string{m.Payment, m.Carrier, m.Waybill, m.Recipient, m.RecipientName, m.RecipientPhone, m.RecipientAddress} {
			dst = putStr(dst, s)
		}
		dst = binary.AppendUvarint(dst, m.Version)
		dst = putStr(dst, m.Reason)
		dst = putStr(dst, m.State)
		dst = binary.AppendUvarint(dst, m.LabelVersion)
		dst = binary.AppendUvarint(dst, m.InterceptID)
		dst = putStr(dst, m.Intercept)
		dst = putStr(dst, m.At)
		dst = putStr(dst, m.Event)
	}
	dst = putStr(dst, e.At)
	dst = putStr(dst, e.PrevHash)
	return putStr(dst, e.Hash)
}

// appendOrderRecord appends the binary record of o (normalised by normOrder).
func appendOrderRecord(dst []byte, o *order.Order) []byte {
	dst = append(dst, recBinary)
	for _, s := range [...]string{o.ID, o.Channel, o.ChannelOrderNo, o.BuyerID} {
		dst = putStr(dst, s)
	}
	dst = putTime(dst, o.OrderedAt)
	dst = putTime(dst, o.PaidAt)
	dst = putList(dst, o.SKUs)
	for _, s := range [...]string{o.Payment, o.Recipient, o.RecipientName, o.RecipientPhone, o.RecipientAddress} {
		dst = putStr(dst, s)
	}
	dst = binary.AppendUvarint(dst, o.Version)
	dst = binary.AppendUvarint(dst, o.AddressVersion)
	dst = binary.AppendUvarint(dst, o.LabelVersion)
	dst = putBool(dst, o.LabelOutdated)
	ic := &o.Intercept
	dst = binary.AppendUvarint(dst, ic.ID)
	dst = putStr(dst, ic.Status)
	dst = putStr(dst, ic.Reason)
	dst = putTime(dst, ic.At)
	dst = putStr(dst, ic.By)
	dst = putStr(dst, ic.Note)
	dst = putTime(dst, ic.ResolvedAt)
	for _, s := range [...]string{o.Carrier, o.AssignedWaybill, o.Waybill, string(o.State)} {
		dst = putStr(dst, s)
	}
	for _, t := range [...]time.Time{o.StateSince, o.PendingSince, o.QueuedSince, o.ReceivedAt, o.PrintedAt, o.PickedUpAt, o.HandedOverAt} {
		dst = putTime(dst, t)
	}
	dst = putBool(dst, o.Overdue)
	for _, s := range [...]string{o.Tracking.Event, o.Tracking.Carrier, o.Tracking.Waybill} {
		dst = putStr(dst, s)
	}
	return putTime(dst, o.Tracking.At)
}

// --- binary records: reading ---------------------------------------------------------------------

// reader reads a binary record. Its strings are substrings of one copy of the record (one
// allocation per record); the first problem sticks in err and every later read returns zero.
type reader struct {
	s   string
	off int
	ver byte // the tag byte: which layout
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: byte %d: %s", errRecord, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	for shift, i := uint(0), r.off; i < len(r.s); shift, i = shift+7, i+1 {
		b := r.s[i]
		if shift == 63 && b > 1 {
			break
		}
		if b < 0x80 {
			if b == 0 && i > r.off { // a longer form of a shorter number: not what this codec writes
				break
			}
			r.off = i + 1
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
	}
	r.fail("bad or cut number")
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.s) {
		r.fail("cut short")
		return 0
	}
	r.off++
	return r.s[r.off-1]
}

func (r *reader) bool() bool {
	switch b := r.byte(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("flag %d", b)
		return false
	}
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.fail("string of %d bytes past the end", n)
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	if !utf8.ValidString(s) {
		r.fail("string is not UTF-8")
		return ""
	}
	r.off += int(n)
	return s
}

func (r *reader) list() []string {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(r.s)-r.off) { // each string takes a byte at least
		r.fail("list of %d past the end", n)
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str()
	}
	return l
}

func (r *reader) time() time.Time {
	switch k := r.byte(); k {
	case 0:
		return time.Time{}
	case 1:
	default:
		if r.err == nil {
			r.fail("time kind %d", k)
		}
		return time.Time{}
	}
	sec, nsec, off := r.varint(), r.uvarint(), r.varint()
	if r.err != nil {
		return time.Time{}
	}
	// What an RFC 3339 text can hold: years 0–9999, offsets under a day.
	const minSec, maxSec = -62167219200 - 86400, 253402300799 + 86400
	if nsec >= 1e9 || off <= -24*60 || off >= 24*60 || sec < minSec || sec > maxSec {
		r.fail("time out of range")
		return time.Time{}
	}
	t := zoned(sec, int64(nsec), int(off))
	if y := t.Year(); y < 0 || y > 9999 || t.IsZero() {
		r.fail("time out of range")
		return time.Time{}
	}
	return t
}

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.s) {
		r.fail("%d bytes after the record", len(r.s)-r.off)
	}
	return r.err
}

// newReader returns the reader by value: a decode keeps it on its stack (one allocation fewer
// per record than a pointer).
func newReader(v []byte) reader {
	if len(v) == 0 || v[0] != recBinary && v[0] != recBinary1 {
		return reader{err: fmt.Errorf("%w: unknown encoding", errRecord)}
	}
	return reader{s: string(v), off: 1, ver: v[0]}
}

// decodeEntryRecord decodes a stored entry in either encoding.
func decodeEntryRecord(v []byte) (wire.Entry, error) {
	var e wire.Entry
	if isJSONRecord(v) {
		err := json.Unmarshal(v, &e)
		return e, err
	}
	r := newReader(v)
	e.JournalID = r.str()
	e.Seq = r.uvarint()
	for _, p := range [...]*string{&e.Kind, &e.OrderID, &e.From, &e.To, &e.Waybill, &e.Carrier, &e.Station, &e.Device,
		&e.Operator, &e.Trigger, &e.Reason, &e.Detail, &e.Code, &e.Job} {
		*p = r.str()
	}
	e.LabelVersion = r.uvarint()
	e.InterceptID = r.uvarint()
	e.Intercept = r.str()
	if r.bool() {
		m := &wire.OrderMsg{}
		m.Type = r.str()
		m.HSeq = r.uvarint()
		for _, p := range [...]*string{&m.OrderID, &m.Channel, &m.ChannelOrderNo, &m.BuyerID, &m.OrderedAt, &m.PaidAt} {
			*p = r.str()
		}
		m.SKUs = r.list()
		for _, p := range [...]*string{&m.Payment, &m.Carrier, &m.Waybill, &m.Recipient, &m.RecipientName, &m.RecipientPhone, &m.RecipientAddress} {
			*p = r.str()
		}
		m.Version = r.uvarint()
		m.Reason = r.str()
		m.State = r.str()
		m.LabelVersion = r.uvarint()
		m.InterceptID = r.uvarint()
		m.Intercept = r.str()
		m.At = r.str()
		if r.ver >= recBinary {
			m.Event = r.str()
		}
		e.Order = m
	}
	e.At = r.str()
	e.PrevHash = r.str()
	e.Hash = r.str()
	if err := r.end(); err != nil {
		return wire.Entry{}, err
	}
	return e, nil
}

// decodeOrderRecord decodes a stored order in either encoding.
func decodeOrderRecord(v []byte) (order.Order, error) {
	var o order.Order
	if isJSONRecord(v) {
		err := json.Unmarshal(v, &o)
		return o, err
	}
	r := newReader(v)
	for _, p := range [...]*string{&o.ID, &o.Channel, &o.ChannelOrderNo, &o.BuyerID} {
		*p = r.str()
	}
	o.OrderedAt = r.time()
	o.PaidAt = r.time()
	o.SKUs = r.list()
	for _, p := range [...]*string{&o.Payment, &o.Recipient, &o.RecipientName, &o.RecipientPhone, &o.RecipientAddress} {
		*p = r.str()
	}
	o.Version = r.uvarint()
	o.AddressVersion = r.uvarint()
	o.LabelVersion = r.uvarint()
	o.LabelOutdated = r.bool()
	ic := &o.Intercept
	ic.ID = r.uvarint()
	ic.Status = r.str()
	ic.Reason = r.str()
	ic.At = r.time()
	ic.By = r.str()
	ic.Note = r.str()
	ic.ResolvedAt = r.time()
	for _, p := range [...]*string{&o.Carrier, &o.AssignedWaybill, &o.Waybill} {
		*p = r.str()
	}
	o.State = order.State(r.str())
	for _, p := range [...]*time.Time{&o.StateSince, &o.PendingSince, &o.QueuedSince, &o.ReceivedAt, &o.PrintedAt, &o.PickedUpAt, &o.HandedOverAt} {
		*p = r.time()
	}
	o.Overdue = r.bool()
	if r.ver >= recBinary {
		for _, p := range [...]*string{&o.Tracking.Event, &o.Tracking.Carrier, &o.Tracking.Waybill} {
			*p = r.str()
		}
		o.Tracking.At = r.time()
	}
	if err := r.end(); err != nil {
		return order.Order{}, err
	}
	return o, nil
}

// entryJSONSize is the length of e's JSON (what the uplink sends of it).
func entryJSONSize(scratch []byte, e *wire.Entry) ([]byte, int) {
	scratch = e.AppendJSON(scratch[:0])
	return scratch, len(scratch)
}
