package hub

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox in bbolt: bucket outbox keyed site 0 order 0 rule holds each row as JSON; bucket
// outbox_due indexes the pending rows by the time they can next be claimed (the later of due and
// lease_until; 8 bytes, Unix µs, big endian) then the row key, so a claim walks only rows it can
// take, earliest first. The buckets are made on first write.
var (
	bktOutbox    = []byte("outbox")
	bktOutboxDue = []byte("outbox_due")
)

// boltOutboxRow is a row's JSON in the outbox bucket.
type boltOutboxRow struct {
	Site       string    `json:"site"`
	Order      string    `json:"order"`
	Rule       string    `json:"rule"`
	State      string    `json:"state"`
	Due        time.Time `json:"due"`
	Attempts   int       `json:"attempts,omitempty"`
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Doc        []byte    `json:"doc"`
}

func outboxKey(k OutboxKey) []byte { return join(k.Site, k.Order, k.Rule) }

// dueKey is r's key in the due index.
func dueKey(r OutboxRow, key []byte) []byte {
	at := r.Due
	if r.LeaseUntil.After(at) {
		at = r.LeaseUntil
	}
	b := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(b, uint64(max(at.UnixMicro(), 0)))
	return append(b, key...)
}

// outboxBuckets returns the two buckets, creating them in a writable transaction; nil in a read
// transaction of a store that never had an outbox row.
func (t boltTx) outboxBuckets() (rows, due *bolt.Bucket, err error) {
	if !t.tx.Writable() {
		return t.tx.Bucket(bktOutbox), t.tx.Bucket(bktOutboxDue), nil
	}
	if rows, err = t.tx.CreateBucketIfNotExists(bktOutbox); err != nil {
		return nil, nil, err
	}
	due, err = t.tx.CreateBucketIfNotExists(bktOutboxDue)
	return rows, due, err
}

func decodeOutbox(v []byte) (OutboxRow, error) {
	var r boltOutboxRow
	if err := json.Unmarshal(v, &r); err != nil {
		return OutboxRow{}, fmt.Errorf("%w: outbox row: %v", ErrStore, err)
	}
	return OutboxRow{OutboxKey: OutboxKey{r.Site, r.Order, r.Rule}, State: r.State, Due: r.Due, Attempts: r.Attempts,
		LeaseOwner: r.LeaseOwner, LeaseUntil: r.LeaseUntil, Doc: r.Doc}, nil
}

// writeOutbox stores r and moves its due index entry from old (nil: none) to r's.
func (t boltTx) writeOutbox(r OutboxRow, old *OutboxRow) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	rows, due, err := t.outboxBuckets()
	if err != nil {
		return err
	}
	key := outboxKey(r.OutboxKey)
	if old != nil && old.State == OutboxPending {
		if err := due.Delete(dueKey(*old, key)); err != nil {
			return err
		}
	}
	r.Due, r.LeaseUntil = r.Due.UTC().Truncate(time.Microsecond), r.LeaseUntil.UTC().Truncate(time.Microsecond)
	if r.State == OutboxPending {
		if err := due.Put(dueKey(r, key), nil); err != nil {
			return err
		}
	}
	return rows.Put(key, mustJSON(boltOutboxRow{Site: r.Site, Order: r.Order, Rule: r.Rule, State: r.State, Due: r.Due,
		Attempts: r.Attempts, LeaseOwner: r.LeaseOwner, LeaseUntil: r.LeaseUntil, Doc: r.Doc}))
}

func (t boltTx) AddOutbox(r OutboxRow) (bool, error) {
	old, err := t.Outbox(r.OutboxKey)
	if err != nil || old != nil {
		return false, err
	}
	return true, t.writeOutbox(r, nil)
}

func (t boltTx) Outbox(k OutboxKey) (*OutboxRow, error) {
	rows, _, err := t.outboxBuckets()
	if err != nil || rows == nil {
		return nil, err
	}
	v := rows.Get(outboxKey(k))
	if v == nil {
		return nil, nil
	}
	r, err := decodeOutbox(v)
	return &r, err
}

func (t boltTx) PutOutbox(r OutboxRow) error {
	old, err := t.Outbox(r.OutboxKey)
	if err != nil {
		return err
	}
	return t.writeOutbox(r, old)
}

func (t boltTx) ClaimOutbox(owner string, now time.Time, lease time.Duration, limit int) ([]OutboxRow, error) {
	if !t.tx.Writable() {
		return nil, errReadOnly
	}
	rows, due, err := t.outboxBuckets()
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	c := due.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixMicro() {
			break
		}
		keys = append(keys, bytes.Clone(k[8:]))
	}
	var out []OutboxRow
	for _, key := range keys {
		if len(out) >= limit {
			break
		}
		v := rows.Get(key)
		if v == nil {
			continue
		}
		r, err := decodeOutbox(v)
		if err != nil {
			return nil, err
		}
		if r.State != OutboxPending || r.LeaseUntil.After(now) {
			continue
		}
		old := r
		r.LeaseOwner, r.LeaseUntil = owner, now.Add(lease).UTC().Truncate(time.Microsecond)
		if err := t.writeOutbox(r, &old); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (t boltTx) Outboxes(state, site string, fn func(OutboxRow) (bool, error)) error {
	rows, _, err := t.outboxBuckets()
	if err != nil || rows == nil {
		return err
	}
	c := rows.Cursor()
	var prefix []byte
	if site != "" {
		prefix = append([]byte(site), 0)
	}
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := decodeOutbox(v)
		if err != nil {
			return err
		}
		if state != "" && r.State != state {
			continue
		}
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
