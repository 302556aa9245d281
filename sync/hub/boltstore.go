package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"wedge/sync/apitoken"
)

// errReadOnly is a write in a View.
var errReadOnly = errors.New("hub: write in a read-only transaction")

// boltStore is the Store in one bbolt file (DataDir/hub.db), laid out as store.go describes.
type boltStore struct{ db *bolt.DB }

// OpenBolt opens (creating when missing) the bbolt store of a data directory, dir/hub.db. Only one
// process can hold it; a second waits 2 s and fails with ErrStore.
func OpenBolt(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: data dir: %v", ErrStore, err)
	}
	path := filepath.Join(dir, "hub.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, InitialMmapSize: boltInitialMmap})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v (is another hub using this data dir?)", ErrStore, path, err)
	}
	s, err := newBoltStore(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// boltInitialMmap is the address space bbolt maps at open (it grows beyond as the file does). A
// growing file otherwise remaps at every doubling, and each remap copies every node the running
// transaction touched out of the old map: on a fresh or young store that was a tenth of the
// ingest's CPU. It is address space, not memory: only the file's pages in use are resident.
const boltInitialMmap = 256 << 20

// The bbolt store's format: meta key boltFormatKey holds it. A store written before the key
// existed is format 1 and gets the key on its first open by a hub that knows it.
//
// Format 2: order records and central index rows may be binary (records_binary.go). A format 1
// store is raised to 2 when opened (every record in it stays readable), so a hub of an earlier
// release refuses the store as newer instead of failing on each binary record it meets.
const (
	boltFormatKey = "store_format"
	boltFormat    = 2
)

// ErrNewerStore means the store was written by a newer hub (a higher format): a downgrade is
// refused rather than guessed at. It matches ErrStore too.
var ErrNewerStore = fmt.Errorf("%w: written by a newer hub", ErrStore)

// newBoltStore creates the buckets of an open bbolt file and checks (or records) its format.
func newBoltStore(db *bolt.DB) (*boltStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		convert := tx.Bucket(bktCounters) == nil
		for _, b := range append([][]byte{bktEntries, bktJournals, bktOrders, bktHistory, bktDownlink, bktAgents, bktCommands, bktMeta, bktPending, bktUnverified, bktCounters}, centralBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := checkBoltFormat(tx.Bucket(bktMeta), db.Path()); err != nil {
			return err
		}
		if convert {
			return convertLegacyStats(boltTx{tx: tx})
		}
		return nil
	})
	if errors.Is(err, ErrStore) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrStore, err)
	}
	return &boltStore{db: db}, nil
}

// checkBoltFormat refuses a store of a newer format and records this format in one without or
// of an older one.
func checkBoltFormat(meta *bolt.Bucket, path string) error {
	v := meta.Get([]byte(boltFormatKey))
	if v == nil {
		return meta.Put([]byte(boltFormatKey), []byte(strconv.Itoa(boltFormat)))
	}
	n, err := strconv.Atoi(string(v))
	if err == nil && n < boltFormat {
		return meta.Put([]byte(boltFormatKey), []byte(strconv.Itoa(boltFormat))) // older formats are read as they are
	}
	if err != nil {
		return fmt.Errorf("%w: %s: store format %q is not a number (damaged?)", ErrStore, path, v)
	}
	if n > boltFormat {
		return fmt.Errorf("%w: %s 的存储格式为 %d，本版本为 %d：拒绝降级，请安装新版本的中心 "+
			"has store format %d, this hub's is %d: a downgrade is refused; install the newer hub again", ErrNewerStore, path, n, boltFormat, n, boltFormat)
	}
	return nil
}

func (s *boltStore) Update(_ context.Context, fn func(Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		setFill(tx)
		return fn(boltTx{tx, &txCursors{}})
	})
}

func (s *boltStore) View(_ context.Context, fn func(Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx, &txCursors{}}) })
}

func (s *boltStore) Tokens() (apitoken.Store, error) { return apitoken.NewBoltStore(s.db) }

func (s *boltStore) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *boltStore) Path() string { return s.db.Path() }

// boltTx is a transaction of the bbolt store; cur (nil: none) are its point reads' cursors.
type boltTx struct {
	tx  *bolt.Tx
	cur *txCursors
}

func (t boltTx) get(bkt, key []byte) ([]byte, error) {
	v := t.lookup(bkt, key)
	if v == nil {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (t boltTx) put(bkt, key, doc []byte) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	return t.tx.Bucket(bkt).Put(key, doc)
}

func ekey(k EntryKey) []byte { return entryKey(k.Site, k.Agent, k.Journal, k.Seq) }

func (t boltTx) Entry(k EntryKey) ([]byte, error) { return t.get(bktEntries, ekey(k)) }

func (t boltTx) PutEntry(k EntryKey, doc []byte) (bool, error) {
	key := ekey(k)
	if t.lookup(bktEntries, key) != nil {
		return false, nil
	}
	return true, t.put(bktEntries, key, doc)
}

func (t boltTx) Entries(site, agent, jid string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	return t.walkJournal(bktEntries, site, agent, jid, after, fn)
}

func (t boltTx) Pending(k EntryKey) ([]byte, error) { return t.get(bktPending, ekey(k)) }

func (t boltTx) PutPending(k EntryKey, doc []byte) error { return t.put(bktPending, ekey(k), doc) }

func (t boltTx) DeletePending(k EntryKey) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	return t.tx.Bucket(bktPending).Delete(ekey(k))
}

func (t boltTx) Pendings(site, agent, jid string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	return t.walkJournal(bktPending, site, agent, jid, after, fn)
}

// walkJournal walks the entry keys of one journal; keys that are not entry keys (journal ids hold
// no NUL, but a longer id shares the prefix) are stepped over.
func (t boltTx) walkJournal(bkt []byte, site, agent, jid string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	prefix := append(journalKey(site, agent, jid), 0)
	c := t.tx.Bucket(bkt).Cursor()
	for k, v := c.Seek(entryKey(site, agent, jid, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		more, err := fn(be64(k[len(prefix):]), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) Journal(site, agent, jid string) ([]byte, error) {
	return t.get(bktJournals, journalKey(site, agent, jid))
}

func (t boltTx) PutJournal(site, agent, jid string, doc []byte) error {
	return t.put(bktJournals, journalKey(site, agent, jid), doc)
}

func (t boltTx) Order(id string) ([]byte, error) { return t.get(bktOrders, []byte(id)) }

func (t boltTx) PutOrder(id string, doc []byte) error { return t.put(bktOrders, []byte(id), doc) }

func (t boltTx) AddHistory(orderID, at string, k EntryKey) error {
	return t.put(bktHistory, historyKey(orderID, at, k.Site, k.Agent, k.Seq, k.Journal), ekey(k))
}

func (t boltTx) History(orderID string, fn func(EntryKey) error) error {
	c := t.tx.Bucket(bktHistory).Cursor()
	prefix := historyPrefix(orderID)
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		// v is an entries key: site 0 agent 0 journal 0 seq(8).
		parts := bytes.SplitN(v[:max(len(v)-9, 0)], []byte{0}, 3)
		if len(parts) != 3 || len(v) < 9 {
			return fmt.Errorf("%w: history %q: bad entry key", ErrStore, k)
		}
		if err := fn(EntryKey{Site: string(parts[0]), Agent: string(parts[1]), Journal: string(parts[2]), Seq: be64(v[len(v)-8:])}); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) Agent(site, agent string) ([]byte, error) { return t.get(bktAgents, join(site, agent)) }

func (t boltTx) PutAgent(site, agent string, doc []byte) error {
	return t.put(bktAgents, join(site, agent), doc)
}

func (t boltTx) Agents(fn func([]byte) error) error {
	return t.tx.Bucket(bktAgents).ForEach(func(_, v []byte) error { return fn(bytes.Clone(v)) })
}

func (t boltTx) NextHSeq(site string) (uint64, error) {
	if !t.tx.Writable() {
		return 0, errReadOnly
	}
	sb, err := t.siteDownlink(site)
	if err != nil {
		return 0, err
	}
	return sb.NextSequence()
}

func (t boltTx) PutDownlink(site string, hseq uint64, doc []byte) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	sb, err := t.siteDownlink(site)
	if err != nil {
		return err
	}
	return sb.Put(u64(hseq), doc)
}

func (t boltTx) Downlink(site string, after uint64, fn func(uint64, []byte) (bool, error)) error {
	sb := t.tx.Bucket(bktDownlink).Bucket([]byte(site))
	if sb == nil {
		return nil
	}
	c := sb.Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			continue
		}
		more, err := fn(be64(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) NextCommandSeq() (uint64, error) {
	if !t.tx.Writable() {
		return 0, errReadOnly
	}
	return t.tx.Bucket(bktCommands).NextSequence()
}

func (t boltTx) PutCommand(site, agent string, n uint64, doc []byte) error {
	return t.put(bktCommands, append(commandPrefix(site, agent), u64(n)...), doc)
}

func (t boltTx) Commands(site, agent string, fn func([]byte) error) error {
	c := t.tx.Bucket(bktCommands).Cursor()
	p := commandPrefix(site, agent)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) AddUnverified(k EntryKey, doc []byte) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	ub := t.tx.Bucket(bktUnverified)
	n, err := ub.NextSequence()
	if err != nil {
		return err
	}
	return ub.Put(append(append(ekey(k), 0), u64(n)...), doc)
}

func (t boltTx) Unverified(site, agent string, fn func([]byte) (bool, error)) error {
	c := t.tx.Bucket(bktUnverified).Cursor()
	p := append(join(site, agent), 0)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		more, err := fn(bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) Meta(key string) ([]byte, error) { return t.get(bktMeta, []byte(key)) }

func (t boltTx) PutMeta(key string, doc []byte) error { return t.put(bktMeta, []byte(key), doc) }

func (t boltTx) DeleteMeta(key string) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	return t.tx.Bucket(bktMeta).Delete([]byte(key))
}

func (t boltTx) AddCounters(delta map[string]int64) error {
	if !t.tx.Writable() {
		return errReadOnly
	}
	b := t.tx.Bucket(bktCounters)
	for name, d := range delta {
		var n uint64
		if v := b.Get([]byte(name)); len(v) == 8 {
			n = be64(v)
		}
		if err := b.Put([]byte(name), u64(n+uint64(d))); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) Counters(fn func(string, int64) error) error {
	return t.tx.Bucket(bktCounters).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: counter %q: %d bytes", ErrStore, k, len(v))
		}
		return fn(string(k), int64(be64(v)))
	})
}

// convertLegacyStats moves the Stats document of a hub before the counters into the counters, once.
func convertLegacyStats(t Tx) error {
	d, err := legacyStats(t)
	if err != nil || d == nil {
		return err
	}
	if err := t.AddCounters(d); err != nil {
		return err
	}
	return t.DeleteMeta(string(keyStats))
}
