package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Buckets of the central queries (hubstore.go's CentralTx), created when a hub.db is opened, so a
// file written before them gets them empty; the hub fills them from the stored orders and entries
// on its first start (central_backfill.go).
//
//	cx_orders    order id                                   → OrderIndex, binary (EncodeOrderIndex; JSON before)
//	cx_keys      kind 0 key 0 order id                      → ""
//	cx_state     state 0 since 0 order id                   → "" (the row is in cx_orders)
//	cx_holds     order id 0 site 0 agent                    → at
//	cx_holds_at  at 0 order id 0 site 0 agent               → ""
//	cx_rejects   at 0 site 0 agent 0 journal 0 seq(8)       → {order id, reason} JSON
//	cx_evidence  order id 0 n(8, the bucket's sequence)     → unverified entry JSON
var (
	bktCxOrders   = []byte("cx_orders")
	bktCxKeys     = []byte("cx_keys")
	bktCxState    = []byte("cx_state")
	bktCxHolds    = []byte("cx_holds")
	bktCxHoldsAt  = []byte("cx_holds_at")
	bktCxRejects  = []byte("cx_rejects")
	bktCxEvidence = []byte("cx_evidence")
)

// centralBuckets are created by newBoltStore.
var centralBuckets = [][]byte{bktCxOrders, bktCxKeys, bktCxState, bktCxHolds, bktCxHoldsAt, bktCxRejects, bktCxEvidence}

func (t boltTx) writable() error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	return nil
}

// indexKeys are the cx_keys keys of an index row.
func indexKeys(ix OrderIndex) [][]byte {
	var out [][]byte
	for _, k := range indexKeyParts(ix, nil) {
		out = append(out, join(k.kind, k.key, ix.OrderID))
	}
	return out
}

// indexKey is a cx_keys key of an order's row before it is joined with the order id.
type indexKey struct{ kind, key string }

// indexKeyParts appends the parts of indexKeys(ix) to dst (the same keys, in the same order).
func indexKeyParts(ix OrderIndex, dst []indexKey) []indexKey {
	add := func(kind, key string) {
		if key != "" {
			dst = append(dst, indexKey{kind, key})
		}
	}
	add(TraceChannelOrderNo, ix.ChannelOrderNo)
	add(TraceWaybill, ix.Waybill)
	if ix.AssignedWaybill != ix.Waybill {
		add(TraceWaybill, ix.AssignedWaybill)
	}
	add(TraceFingerprint, ix.Fingerprint)
	return dst
}

func (t boltTx) IndexOrder(ix OrderIndex) error {
	if err := t.writable(); err != nil {
		return err
	}
	old, err := t.OrderIndexOf(ix.OrderID)
	if err != nil {
		return err
	}
	return t.indexOrderFrom(old, ix)
}

// indexOrderFrom is IndexOrder over the row old the caller read in this transaction (nil: none),
// so the row is not read and decoded twice (indexOrderRec).
func (t boltTx) indexOrderFrom(old *OrderIndex, ix OrderIndex) error {
	if err := t.writable(); err != nil {
		return err
	}
	// Only the keys that changed are written: most entries move the state and leave the lookup
	// keys as they were. Keys are compared as their parts and built only to be written.
	var newBuf, oldBuf [4]indexKey
	newKeys := indexKeyParts(ix, newBuf[:0])
	var oldKeys []indexKey
	stateChanged := true
	if old != nil && old.OrderID != ix.OrderID { // not this order's row (damaged): replaced whole
		if err := t.dropIndexKeys(*old); err != nil {
			return err
		}
		old = nil
	}
	if old != nil {
		oldKeys = indexKeyParts(*old, oldBuf[:0])
		for _, k := range oldKeys {
			if !slices.Contains(newKeys, k) {
				if err := t.del(bktCxKeys, join(k.kind, k.key, old.OrderID)); err != nil {
					return err
				}
			}
		}
		if stateChanged = old.State != ix.State || old.Since != ix.Since; stateChanged {
			if err := t.del(bktCxState, join(old.State, old.Since, old.OrderID)); err != nil {
				return err
			}
		}
	}
	keys := t.tx.Bucket(bktCxKeys)
	for _, k := range newKeys {
		if !slices.Contains(oldKeys, k) {
			if err := keys.Put(join(k.kind, k.key, ix.OrderID), nil); err != nil {
				return err
			}
		}
	}
	if stateChanged {
		if err := t.tx.Bucket(bktCxState).Put(join(ix.State, ix.Since, ix.OrderID), nil); err != nil {
			return err
		}
	}
	return t.tx.Bucket(bktCxOrders).Put([]byte(ix.OrderID), EncodeOrderIndex(ix))
}

// dropIndexKeys deletes the cx_keys and cx_state rows of index row ix.
func (t boltTx) dropIndexKeys(ix OrderIndex) error {
	var buf [4]indexKey
	for _, k := range indexKeyParts(ix, buf[:0]) {
		if err := t.del(bktCxKeys, join(k.kind, k.key, ix.OrderID)); err != nil {
			return err
		}
	}
	return t.del(bktCxState, join(ix.State, ix.Since, ix.OrderID))
}

// decodeIndex reads a cx_orders row: binary, or the JSON written before (DecodeOrderIndex).
func decodeIndex(raw []byte) (*OrderIndex, error) {
	ix, err := DecodeOrderIndex(raw)
	if err != nil {
		return nil, err
	}
	return &ix, nil
}

func (t boltTx) OrderIndexOf(orderID string) (*OrderIndex, error) {
	raw := t.lookup(bktCxOrders, []byte(orderID))
	if raw == nil {
		return nil, nil
	}
	return decodeIndex(raw)
}

func (t boltTx) TraceOrders(kind, key string, limit int) ([]string, error) {
	var out []string
	prefix := append(join(kind, key), 0)
	c := t.tx.Bucket(bktCxKeys).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out, nil
}

// inRange reports whether at is within [f.Since, f.Until).
func (f ListFilter) inRange(at string) bool {
	return (f.Since == "" || at >= f.Since) && (f.Until == "" || at < f.Until)
}

// seekFrom is where a walk of keys "at 0 …" starts: the cursor's key, or f.Since.
func seekFrom(prefix []byte, f ListFilter, cursor []byte) []byte {
	if f.HasAfter {
		return append(append(append([]byte(nil), prefix...), cursor...), 0) // just after the cursor (no key is its prefix + 0)
	}
	return append(append([]byte(nil), prefix...), f.Since...)
}

func (t boltTx) OrdersInState(st string, f ListFilter, fn func(OrderIndex) (bool, error)) error {
	prefix := append([]byte(st), 0)
	c := t.tx.Bucket(bktCxState).Cursor()
	for k, _ := c.Seek(seekFrom(prefix, f, join(f.AfterAt, f.AfterID))); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		p := bytes.SplitN(k[len(prefix):], []byte{0}, 2)
		if len(p) != 2 {
			return fmt.Errorf("%w: state key %q", ErrStore, k)
		}
		if f.Until != "" && string(p[0]) >= f.Until {
			return nil
		}
		ix, err := t.OrderIndexOf(string(p[1]))
		if err != nil {
			return err
		}
		if ix == nil {
			return fmt.Errorf("%w: state key %q without its order row", ErrStore, k)
		}
		if !f.inRange(ix.Since) || f.Site != "" && ix.Site != f.Site || f.Agent != "" && ix.Agent != f.Agent {
			continue
		}
		if more, err := fn(*ix); err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) PutHold(h Hold) error {
	if err := t.writable(); err != nil {
		return err
	}
	k := join(h.OrderID, h.Site, h.Agent)
	if t.lookup(bktCxHolds, k) != nil {
		return nil
	}
	if err := t.tx.Bucket(bktCxHolds).Put(k, []byte(h.At)); err != nil {
		return err
	}
	return t.tx.Bucket(bktCxHoldsAt).Put(join(h.At, h.OrderID, h.Site, h.Agent), nil)
}

func (t boltTx) DeleteHold(orderID, site, agent string) error {
	if err := t.writable(); err != nil {
		return err
	}
	k := join(orderID, site, agent)
	at := t.lookup(bktCxHolds, k)
	if at == nil {
		return nil
	}
	if err := t.tx.Bucket(bktCxHoldsAt).Delete(join(string(at), orderID, site, agent)); err != nil {
		return err
	}
	return t.tx.Bucket(bktCxHolds).Delete(k)
}

func (t boltTx) Holds(f ListFilter, fn func(Hold) (bool, error)) error {
	c := t.tx.Bucket(bktCxHoldsAt).Cursor()
	for k, _ := c.Seek(seekFrom(nil, f, join(f.AfterAt, f.AfterID, f.AfterKey.Site, f.AfterKey.Agent))); k != nil; k, _ = c.Next() {
		p := bytes.SplitN(k, []byte{0}, 4)
		if len(p) != 4 {
			return fmt.Errorf("%w: hold key %q", ErrStore, k)
		}
		h := Hold{At: string(p[0]), OrderID: string(p[1]), Site: string(p[2]), Agent: string(p[3])}
		if f.Until != "" && h.At >= f.Until {
			return nil
		}
		if f.Site != "" && h.Site != f.Site || f.Agent != "" && h.Agent != f.Agent {
			continue
		}
		if more, err := fn(h); err != nil || !more {
			return err
		}
	}
	return nil
}

// rejectKey is the cx_rejects key of a rejection.
func rejectKey(at string, k EntryKey) []byte {
	return append(append(join(at, k.Site, k.Agent, k.Journal), 0), u64(k.Seq)...)
}

type rejectDoc struct {
	OrderID string `json:"order_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func (t boltTx) AddRejection(r Rejection) error {
	return t.put(bktCxRejects, rejectKey(r.At, r.Key), mustJSON(rejectDoc{r.OrderID, r.Reason}))
}

func (t boltTx) Rejections(f ListFilter, fn func(Rejection) (bool, error)) error {
	c := t.tx.Bucket(bktCxRejects).Cursor()
	start := []byte(f.Since)
	if f.HasAfter {
		start = append(rejectKey(f.AfterAt, f.AfterKey), 0)
	}
	for k, v := c.Seek(start); k != nil; k, v = c.Next() {
		p := bytes.SplitN(k[:max(len(k)-9, 0)], []byte{0}, 4)
		if len(p) != 4 || len(k) < 9 {
			return fmt.Errorf("%w: rejection key %q", ErrStore, k)
		}
		var d rejectDoc
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("%w: rejection %q: %v", ErrStore, k, err)
		}
		r := Rejection{At: string(p[0]), Key: EntryKey{Site: string(p[1]), Agent: string(p[2]), Journal: string(p[3]), Seq: be64(k[len(k)-8:])},
			OrderID: d.OrderID, Reason: d.Reason}
		if f.Until != "" && r.At >= f.Until {
			return nil
		}
		if f.Site != "" && r.Key.Site != f.Site || f.Agent != "" && r.Key.Agent != f.Agent || f.Reason != "" && r.Reason != f.Reason {
			continue
		}
		if more, err := fn(r); err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) AddOrderEvidence(orderID string, doc []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.tx.Bucket(bktCxEvidence)
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(append(append([]byte(orderID), 0), u64(n)...), doc)
}

func (t boltTx) OrderEvidence(orderID string) ([][]byte, error) {
	var out [][]byte
	prefix := append([]byte(orderID), 0)
	c := t.tx.Bucket(bktCxEvidence).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix)+8 {
			out = append(out, bytes.Clone(v))
		}
	}
	return out, nil
}

func (t boltTx) OrderIDs(after string, limit int) ([]string, error) {
	var out []string
	c := t.tx.Bucket(bktOrders).Cursor()
	k, _ := c.Seek([]byte(after))
	if k != nil && after != "" && string(k) == after {
		k, _ = c.Next()
	}
	for ; k != nil && len(out) < limit; k, _ = c.Next() {
		out = append(out, string(k))
	}
	return out, nil
}

func (t boltTx) EntryKeys(after EntryKey, limit int) ([]EntryKey, error) {
	var out []EntryKey
	c := t.tx.Bucket(bktEntries).Cursor()
	k, _ := c.First()
	if after != (EntryKey{}) {
		k, _ = c.Seek(append(ekey(after), 0)) // just after it
	}
	for ; k != nil && len(out) < limit; k, _ = c.Next() {
		p := bytes.SplitN(k[:max(len(k)-9, 0)], []byte{0}, 3)
		if len(p) != 3 || len(k) < 9 {
			continue
		}
		out = append(out, EntryKey{Site: string(p[0]), Agent: string(p[1]), Journal: string(p[2]), Seq: be64(k[len(k)-8:])})
	}
	return out, nil
}
