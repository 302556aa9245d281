// Package uplinktest holds hand-written test helpers for sync/uplink: MemSource, an in-memory
// journal that implements uplink.Source with a correct hash chain.
package uplinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"wedge/sync/wire"
)

// MemSource is an in-memory, hash-chained journal. It is safe for concurrent use.
type MemSource struct {
	mu        sync.Mutex
	id        string
	entries   []wire.Entry
	acked     uint64
	ackCalls  []uint64
	committed chan struct{}
	ackErr    error
}

// SetAckErr makes Ack fail with err (without applying the ack) until it is set back to nil, to test
// a journal that cannot record acks (disk full).
func (m *MemSource) SetAckErr(err error) {
	m.mu.Lock()
	m.ackErr = err
	m.mu.Unlock()
}

// NewMemSource returns an empty journal with the given id.
func NewMemSource(journalID string) *MemSource {
	return &MemSource{id: journalID, committed: make(chan struct{}, 1)}
}

// Append adds n note entries chained to the previous one and signals Committed. It returns the last seq.
func (m *MemSource) Append(n int) uint64 {
	m.mu.Lock()
	for i := 0; i < n; i++ {
		prev := ""
		if k := len(m.entries); k > 0 {
			prev = m.entries[k-1].Hash
		}
		seq := uint64(len(m.entries) + 1)
		e := wire.Entry{JournalID: m.id, Seq: seq, Kind: wire.KindNote, OrderID: fmt.Sprintf("O%06d", seq),
			Trigger: wire.TriggerSystem, Detail: fmt.Sprintf("测试 entry %d", seq), At: "2026-11-25T08:00:00.000Z"}
		e.Seal(prev)
		m.entries = append(m.entries, e)
	}
	last := uint64(len(m.entries))
	m.mu.Unlock()
	select {
	case m.committed <- struct{}{}:
	default:
	}
	return last
}

// JournalID returns the journal's id.
func (m *MemSource) JournalID() string { return m.id }

// Entries returns up to maxEntries entries with seq > after whose JSON sizes sum to at most maxBytes
// (at least one entry if any is there, like the journal).
func (m *MemSource) Entries(after uint64, maxEntries, maxBytes int) ([]wire.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wire.Entry
	size := 0
	for i := int(after); i < len(m.entries) && len(out) < maxEntries; i++ {
		b, err := json.Marshal(m.entries[i])
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && size+len(b) > maxBytes {
			break
		}
		size += len(b)
		out = append(out, m.entries[i])
	}
	return out, nil
}

// LastSeq is the highest seq appended.
func (m *MemSource) LastSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.entries))
}

// AckedSeq is the highest seq the hub acknowledged.
func (m *MemSource) AckedSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acked
}

// Ack records the hub's ack: monotonic and clamped to LastSeq, like the journal.
func (m *MemSource) Ack(_ context.Context, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ackErr != nil {
		return m.ackErr
	}
	m.ackCalls = append(m.ackCalls, seq)
	if seq > uint64(len(m.entries)) {
		seq = uint64(len(m.entries))
	}
	if seq > m.acked {
		m.acked = seq
	}
	return nil
}

// AckCalls returns every seq passed to Ack, in order.
func (m *MemSource) AckCalls() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.ackCalls...)
}

// Committed is signalled (coalesced) after each Append.
func (m *MemSource) Committed() <-chan struct{} { return m.committed }
