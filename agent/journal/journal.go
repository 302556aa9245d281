// Package journal is the agent's single source of truth: one bbolt file (wedge.db) holding the
// orders, their indexes and per-state counts, and an append-only, hash-chained journal of every
// change (who, device, when, from → to).
//
// Layout (bucket: key → value):
//
//	meta        journal_id, site, agent, created_at, last_seq, last_hash, acked_seq, app.<key>
//	orders      order id → order.Order (a binary record; JSON before format 2, see codec.go)
//	idx_waybill bound waybill (normalized) → order id
//	idx_assigned waybill the hub assigned (normalized) → order id, before and after it is printed
//	idx_channel channel_order_no → order id
//	counts      state → uint64 (8-byte big endian), kept in the same transaction as the order
//	entries     seq (8-byte big endian) → wire.Entry (a binary record; JSON before format 2),
//	            gapless from 1, never deleted
//	idx_history order id + 0x00 + seq → nil, so an order's history is a prefix scan
//
// All writes go through Do, which runs callers' functions on one writer goroutine and folds
// everything that queued up meanwhile (up to Options.MaxBatch calls) into one bbolt transaction:
// group commit. Do returns only after that transaction committed (fsync'd), so an operator gets a
// "good" outcome only for what is on disk. A function that returns an error has its writes
// discarded without disturbing the others in its batch; a failed commit (disk full) fails every
// call of the batch with ErrCommit and acknowledges nothing.
//
// Ack records how far the hub has acknowledged the journal (acked_seq). Entries are kept forever;
// "synced" means seq ≤ acked_seq. Ack moves the acked seq in memory at once and the writer writes
// it with the next commit (or alone when idle, or at Close), so that a scan never waits for an
// ack's commit; the acked seq on disk may lag, never lead (see ack.go). Verify checks the chain of
// a journal file offline.
//
// A file damaged on disk (bytes changed or lost) is an error wrapping ErrDamaged, never a panic or
// a fault: Open checks the file before bbolt maps it (see precheck), and reads and writes turn
// bbolt's panics and memory faults into that error. Verify also checks every page, record and
// index of the file; Salvage reads what is left of a damaged one, and Rebuild writes a new one
// from a complete chain of entries (the hub's copy): `wedge journal recover`.
//
// Open migrates a journal made before idx_assigned existed: it builds that index from the orders
// in the same transaction that creates the bucket, so no order is ever missing from it.
package journal

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrClosed means the store was closed: nothing was done.
	ErrClosed = errors.New("journal: store closed")
	// ErrCommit means the bbolt commit of a batch failed (e.g. disk full): nothing of the batch was
	// stored or acknowledged.
	ErrCommit = errors.New("journal: commit failed, nothing recorded")
	// ErrIdentity means the db file belongs to another site or agent.
	ErrIdentity = errors.New("journal: db belongs to another site/agent")
	// ErrLocked means another process (a running agent) holds the db file.
	ErrLocked = errors.New("journal: db is in use by another process")
	// ErrOptions means Open was called with bad options.
	ErrOptions = errors.New("journal: bad options")
	// ErrInvalid means a write inside Do was refused (an order without id, an unknown state, an
	// empty meta key); the function's writes were discarded.
	ErrInvalid = errors.New("journal: invalid write")
	// ErrCorrupt means the db holds data that cannot be decoded or is structurally wrong, or is
	// not a wedge journal at all. Damage to the file (ErrDamaged) matches it too.
	ErrCorrupt = errors.New("journal: db corrupt")
	// ErrNewerFormat means the journal was written by a newer wedge (a higher format number): this
	// one refuses it rather than guess, so a downgrade never rewrites a newer journal. It matches
	// ErrCorrupt too (it cannot be read).
	ErrNewerFormat = fmt.Errorf("%w: written by a newer wedge", ErrCorrupt)
	// ErrPanic means a function passed to Do panicked; its writes were discarded.
	ErrPanic = errors.New("journal: function panicked")
)

// DefaultMaxBatch is the default number of Do calls folded into one transaction.
const DefaultMaxBatch = 1000

// DefaultLockTimeout is how long Open waits for another process to release the db file.
const DefaultLockTimeout = 2 * time.Second

// Bucket and meta key names.
var (
	bMeta       = []byte("meta")
	bOrders     = []byte("orders")
	bIdxWaybill = []byte("idx_waybill")
	bIdxAssign  = []byte("idx_assigned")
	bIdxChannel = []byte("idx_channel")
	bEntries    = []byte("entries")
	bIdxHistory = []byte("idx_history")
	bCounts     = []byte("counts")

	allBuckets = [][]byte{bMeta, bOrders, bIdxWaybill, bIdxAssign, bIdxChannel, bEntries, bIdxHistory, bCounts}
)

const (
	kJournalID = "journal_id"
	kSite      = "site"
	kAgent     = "agent"
	kCreatedAt = "created_at"
	kLastSeq   = "last_seq"
	kLastHash  = "last_hash"
	kAckedSeq  = "acked_seq"
	kFormat    = "format"
	appPrefix  = "app." // Tx.Meta/SetMeta keys live under this prefix, apart from the store's own keys
	formatV1   = "1"    // every record JSON
	// formatV2 is the format this wedge writes: records are binary (codec.go), and JSON records
	// of format 1 are still read. Open raises a format 1 journal to 2 (nothing else is rewritten),
	// so a wedge that reads only JSON refuses it instead of calling the binary records damage.
	formatV2 = "2"
)

// Options configure Open. Site and Agent are required; every other zero value means the documented
// default.
type Options struct {
	Site  string // required: the agent's site; must match what the db was created with
	Agent string // required: the agent's name; must match what the db was created with
	// Clock stamps entries whose At is empty. Nil means clock.Real.
	Clock clock.Clock
	// Logger receives diagnostics. Nil means silent.
	Logger *slog.Logger
	// MaxBatch is the most Do calls folded into one transaction. 0 means DefaultMaxBatch.
	MaxBatch int
	// LockTimeout is how long Open waits for another process holding the file. 0 means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// NoSync skips fsync. For benchmarks only: never in production, it breaks the promise that
	// nothing acknowledged is lost.
	NoSync bool
	// AckDelay is how long a hub ack may stay in memory only, when no commit carries it, before the
	// idle writer commits it alone (see Ack). 0 means DefaultAckDelay.
	AckDelay time.Duration
	// FailCommit is fault injection for tests (see journaltest.DiskFull); nil in production. When
	// set, it is called before each commit, and a non-nil error fails the commit exactly as a full
	// disk would: the batch is rolled back and every caller gets ErrCommit.
	FailCommit func() error
}

// Stats are counters of the writer since Open.
type Stats struct {
	Commits uint64 // successful bbolt transactions
	Calls   uint64 // Do calls run (including failed functions)
	Failed  uint64 // failed commits
	// AckCommits are the commits (counted in Commits too) that wrote only the acked seq: an ack
	// that waited AckDelay with the writer idle, or Close's last write.
	AckCommits uint64
}

// Store is an open journal. It is safe for concurrent use.
type Store struct {
	db        *bolt.DB
	path      string
	journalID string
	site      string
	agent     string
	clk       clock.Clock
	log       *slog.Logger
	maxBatch  int

	lastSeq  atomic.Uint64
	ackedSeq atomic.Uint64
	lastHash string                  // owned by the writer goroutine after Open
	scratch  []byte                  // the writer goroutine's buffer for encoding records (see Tx.seal, Tx.store)
	wmap     map[uint64]int          // the writer goroutine's Tx.w, reused
	ocache   map[string]*cachedOrder // the writer goroutine's Tx.orders, emptied for each Tx
	oslots   orderSlots              // the writer goroutine's storage for ocache's values (stepkeys.go)
	slabs    slabs                   // the writer goroutine's arena chunks for Tx.alloc (stepkeys.go)
	ops      []wop                   // the writer goroutine's Tx.ops, reused

	mu      sync.Mutex
	pending []*call
	closed  bool

	wake      chan struct{} // buffer 1: pending grew
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed when the writer exited
	committed chan struct{} // buffer 1
	closeOnce sync.Once
	closeErr  error

	commits, calls, failed atomic.Uint64

	// The hub's ack (see ack.go): ackedSeq above is the one in memory, raised by Ack at once;
	// ackSaved is the one in the file, written by the writer goroutine, never above ackedSeq.
	ackSaved   atomic.Uint64
	ackDelay   time.Duration
	ackCommits atomic.Uint64

	// failCommit is Options.FailCommit (tests swap it at run time): consulted before each commit, a
	// non-nil error rolls the batch back as if the commit had failed.
	failCommit atomic.Pointer[func() error]

	damage atomic.Pointer[error] // the first damage met at run time (see markDamaged)
}

// Open opens (creating if needed) the journal db file at path. A new file gets a random journal
// id; an existing one must have been created for the same Site and Agent.
func Open(path string, opts *Options) (*Store, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: site and agent are required", ErrOptions)
	}
	if strings.TrimSpace(opts.Site) == "" || strings.TrimSpace(opts.Agent) == "" {
		return nil, fmt.Errorf("%w: site and agent are required (site %q, agent %q)", ErrOptions, opts.Site, opts.Agent)
	}
	if opts.MaxBatch < 0 {
		return nil, fmt.Errorf("%w: MaxBatch %d", ErrOptions, opts.MaxBatch)
	}
	if opts.AckDelay < 0 {
		return nil, fmt.Errorf("%w: AckDelay %v", ErrOptions, opts.AckDelay)
	}
	s := &Store{
		path:      path,
		site:      opts.Site,
		agent:     opts.Agent,
		clk:       clock.Or(opts.Clock),
		log:       logging.Or(opts.Logger),
		maxBatch:  opts.MaxBatch,
		ackDelay:  cmp.Or(opts.AckDelay, DefaultAckDelay),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		committed: make(chan struct{}, 1),
	}
	if opts.FailCommit != nil {
		s.failCommit.Store(&opts.FailCommit)
	}
	if s.maxBatch == 0 {
		s.maxBatch = DefaultMaxBatch
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	locked := fmt.Errorf("%w: %s: 日志文件被另一个进程占用（是否已有代理在运行？） the file is locked by another process (is an agent already running?)", ErrLocked, path)
	// An existing file is checked before bbolt maps it: bbolt trusts the file, and a damaged one
	// makes it panic or fault (SIGBUS past the end of a truncated file) instead of failing.
	if !created {
		if err := checkFile(path); err != nil {
			if lockedBy(path, timeout) { // a running agent's writes may be what looked damaged
				return nil, locked
			}
			return nil, err
		}
	}
	// The pre-check cannot see every page at a constant cost: whatever bbolt trips over while
	// opening and reading the first buckets becomes ErrDamaged too.
	var db *bolt.DB
	err := guard(path, "open", func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync})
		return err
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, locked
		}
		if errors.Is(err, ErrDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	s.db = db
	if err := guard(path, "read", s.init); err != nil {
		db.Close()
		return nil, err
	}
	if created && !opts.NoSync && runtime.GOOS != "windows" { // Windows cannot fsync a directory
		// bbolt fsyncs the file, not its directory entry: without this a power cut right after the
		// first start could lose the whole file, journal id included.
		if err := syncDir(filepath.Dir(path)); err != nil {
			db.Close()
			return nil, fmt.Errorf("journal: sync %s: %w", filepath.Dir(path), err)
		}
	}
	go s.writer()
	return s, nil
}

// init creates the buckets and the identity on first use, checks it otherwise, and loads the
// journal position.
func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		fresh := tx.Bucket(bMeta) == nil
		if fresh {
			var other []string
			ours := false
			tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				other = append(other, string(name))
				ours = ours || slices.ContainsFunc(allBuckets, func(b []byte) bool { return string(b) == string(name) })
				return nil
			})
			if ours { // a journal that lost its meta bucket: never start it over with a new identity
				return damaged(s.path, fmt.Sprintf("缺少 meta 桶 the meta bucket is missing (buckets %v)", other))
			}
			if len(other) > 0 { // never write into somebody else's bbolt file (say, hub.db)
				return fmt.Errorf("%w: %s 不是 wedge 日志 is not a wedge journal (buckets %v)", ErrCorrupt, s.path, other)
			}
		}
		// A journal from before idx_assigned: build it below, in this transaction.
		migrateAssigned := tx.Bucket(bMeta) != nil && tx.Bucket(bIdxAssign) == nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				if !fresh { // a journal's root holds a value where its bucket should be: a damaged page
					return damaged(s.path, fmt.Sprintf("桶 %s 无法打开 bucket %s cannot be opened: %v", name, name, err))
				}
				return fmt.Errorf("journal: create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		if migrateAssigned && meta.Get([]byte(kJournalID)) != nil {
			if err := buildAssignedIndex(tx, s.log); err != nil {
				return err
			}
		}
		if id := meta.Get([]byte(kJournalID)); id == nil {
			if !fresh { // the identity was made with the bucket, in one transaction: it was lost
				return damaged(s.path, "meta 桶中缺少日志编号 the meta bucket has no journal_id")
			}
			var raw [8]byte
			if _, err := rand.Read(raw[:]); err != nil {
				return fmt.Errorf("journal: journal id: %w", err)
			}
			for k, v := range map[string]string{
				kJournalID: hex.EncodeToString(raw[:]), kSite: s.site, kAgent: s.agent,
				kCreatedAt: wire.Time(s.clk.Now()), kFormat: formatV2,
			} {
				if err := meta.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			s.log.Info("journal created", "journal", hex.EncodeToString(raw[:]), logging.KeySite, s.site, logging.KeyAgent, s.agent, "path", s.path)
			return nil
		}
		if f := string(meta.Get([]byte(kFormat))); f != formatV2 {
			if !isDecimal(f) { // not a format a wedge wrote: the value was damaged
				return damaged(s.path, fmt.Sprintf("meta format %q", f))
			}
			if n, _ := strconv.ParseUint(f, 10, 64); n < 1 {
				return fmt.Errorf("%w: %s has journal format %q; this wedge reads formats %s and %s", ErrCorrupt, s.path, f, formatV1, formatV2)
			} else if n > 2 {
				return fmt.Errorf("%w: %s 的日志格式为 %s，本版本只读格式 %s：拒绝降级，请安装新版本或恢复本版本做的备份 "+
					"has journal format %s, this wedge reads format %s: a downgrade is refused; install the newer wedge again, or restore a backup this version made",
					ErrNewerFormat, s.path, f, formatV2, f, formatV2)
			}
		}
		site, agent := string(meta.Get([]byte(kSite))), string(meta.Get([]byte(kAgent)))
		if (site != s.site || agent != s.agent) && (!printable(site) || !printable(agent)) {
			return damaged(s.path, fmt.Sprintf("meta site %q agent %q", site, agent)) // no agent wrote these
		}
		if site != s.site || agent != s.agent {
			return fmt.Errorf("%w: %s 属于 belongs to %s/%s, 而配置为 but this agent is configured as %s/%s — 这是别人的数据 it is someone else's data",
				ErrIdentity, s.path, site, agent, s.site, s.agent)
		}
		if string(meta.Get([]byte(kFormat))) == formatV1 { // from now on binary records are written too
			return meta.Put([]byte(kFormat), []byte(formatV2))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.load(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		// A cheap consistency look at the tail: a mismatch is a broken journal (Verify tells where),
		// but the agent keeps recording on top of its meta rather than stopping the warehouse.
		k, v := tx.Bucket(bEntries).Cursor().Last()
		var last uint64
		var hash string
		if k != nil {
			last = binary.BigEndian.Uint64(k)
			if e, err := decodeEntryRecord(v); err == nil {
				hash = e.Hash
			}
		}
		if last != s.lastSeq.Load() || hash != s.lastHash {
			s.log.Error("警告 journal tail disagrees with meta last_seq: run `wedge journal verify`", "tail_seq", last, "last_seq", s.lastSeq.Load())
		}
		return nil
	})
}

// buildAssignedIndex fills idx_assigned from the orders (the migration of a journal made before
// the index existed). Orders are visited in id order; as in PutOrder, the later one wins when two
// orders carry the same assigned waybill.
func buildAssignedIndex(tx *bolt.Tx, log *slog.Logger) error {
	idx := tx.Bucket(bIdxAssign)
	n := 0
	err := tx.Bucket(bOrders).ForEach(func(k, v []byte) error {
		o, _, err := decodeOrder(v)
		if err != nil {
			return fmt.Errorf("order %q: %w", k, err)
		}
		if wb := waybill.Normalize(o.AssignedWaybill); wb != "" {
			n++
			return idx.Put([]byte(wb), k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: build the assigned-waybill index: %w", err)
	}
	log.Info("journal: built the assigned-waybill index", "orders", n)
	return nil
}

// load reads the journal id and position from meta.
func (s *Store) load() error {
	return s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return damaged(s.path, "缺少 meta 桶 the meta bucket is missing")
		}
		s.journalID = string(meta.Get([]byte(kJournalID)))
		last, err := u64(meta.Get([]byte(kLastSeq)))
		if err != nil {
			return damaged(s.path, fmt.Sprintf("meta last_seq: %v", err))
		}
		acked, err := u64(meta.Get([]byte(kAckedSeq)))
		if err != nil {
			return damaged(s.path, fmt.Sprintf("meta acked_seq: %v", err))
		}
		s.lastSeq.Store(last)
		s.ackSaved.Store(acked)
		s.raiseAck(acked) // after a failed commit, an ack held in memory stays
		s.lastHash = string(meta.Get([]byte(kLastHash)))
		return nil
	})
}

// Close stops accepting calls (Do then returns ErrClosed), runs the calls already queued, waits
// for the writer and closes the db. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.done
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// JournalID is the random id made when the db was created.
func (s *Store) JournalID() string { return s.journalID }

// Path is the db file's path.
func (s *Store) Path() string { return s.path }

// LastSeq is the seq of the last committed entry (0 when the journal is empty).
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// AckedSeq is the highest seq the hub acknowledged, in memory: entries up to it leave the unsynced
// set. The file may hold a lower one until the next commit (SavedAckedSeq).
func (s *Store) AckedSeq() uint64 { return s.ackedSeq.Load() }

// Committed is signalled (coalesced, buffer 1) after each successful commit.
func (s *Store) Committed() <-chan struct{} { return s.committed }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Calls: s.calls.Load(), Failed: s.failed.Load(), AckCommits: s.ackCommits.Load()}
}

// Order returns the committed order with id.
func (s *Store) Order(id string) (o order.Order, ok bool, err error) {
	id = jsonString(id)
	err = s.view(func(tx *bolt.Tx) error {
		o, ok, err = decodeOrder(tx.Bucket(bOrders).Get([]byte(id)))
		return err
	})
	return o, ok, err
}

// FindOrder finds a committed order by id, bound waybill or channel order no (in that order).
func (s *Store) FindOrder(code string) (o order.Order, ok bool, err error) {
	code = jsonString(strings.TrimSpace(code))
	if code == "" {
		return o, false, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		orders := tx.Bucket(bOrders)
		if o, ok, err = decodeOrder(orders.Get([]byte(code))); ok || err != nil {
			return err
		}
		if id := tx.Bucket(bIdxWaybill).Get([]byte(waybill.Normalize(code))); id != nil {
			if o, ok, err = decodeOrder(orders.Get(id)); ok || err != nil {
				return err
			}
		}
		if id := tx.Bucket(bIdxChannel).Get([]byte(code)); id != nil {
			o, ok, err = decodeOrder(orders.Get(id))
		}
		return err
	})
	return o, ok, err
}

// History returns the committed entries of an order in seq order.
func (s *Store) History(orderID string) ([]wire.Entry, error) {
	var out []wire.Entry
	prefix := append([]byte(jsonString(orderID)), 0)
	err := s.view(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bEntries)
		c := tx.Bucket(bIdxHistory).Cursor()
		for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
			if len(k) != len(prefix)+8 { // an order id with a NUL in it: another order's key
				continue
			}
			v := entries.Get(k[len(prefix):])
			if v == nil {
				return damaged(s.path, fmt.Sprintf("history of %q names seq %d, which is missing", orderID, binary.BigEndian.Uint64(k[len(prefix):])))
			}
			e, err := decodeEntryRecord(v)
			if err != nil {
				return damaged(s.path, fmt.Sprintf("entry %d: %v", binary.BigEndian.Uint64(k[len(prefix):]), err))
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Entries returns committed entries with seq > after, in order: at most maxEntries of them and
// no more than maxBytes of JSON in all, but always at least one if there is one. maxEntries ≤ 0
// means wire.MaxBatchEntries; maxBytes ≤ 0 means wire.MaxBatchBytes. It seeks, so its cost does
// not grow with the journal.
func (s *Store) Entries(after uint64, maxEntries, maxBytes int) ([]wire.Entry, error) {
	if maxEntries <= 0 {
		maxEntries = wire.MaxBatchEntries
	}
	if maxBytes <= 0 {
		maxBytes = wire.MaxBatchBytes
	}
	if after == math.MaxUint64 {
		return nil, nil
	}
	var out []wire.Entry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEntries).Cursor()
		size := 0
		var buf []byte
		for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < maxEntries; k, v = c.Next() {
			e, err := decodeEntryRecord(v)
			if err != nil {
				return damaged(s.path, fmt.Sprintf("entry %d: %v", binary.BigEndian.Uint64(k), err))
			}
			n := len(v) // a JSON record is the entry's JSON
			if !isJSONRecord(v) {
				buf, n = entryJSONSize(buf, &e)
			}
			if len(out) > 0 && size+n > maxBytes {
				break
			}
			size += n
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Counts returns the number of committed orders in each state (states with none are absent).
func (s *Store) Counts() map[order.State]int {
	out := map[order.State]int{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bCounts).ForEach(func(k, v []byte) error {
			n, err := u64(v)
			if err != nil {
				return damaged(s.path, fmt.Sprintf("count of %s: %v", k, err))
			}
			if n > 0 {
				out[order.State(k)] = int(n)
			}
			return nil
		})
	})
	if err != nil {
		s.log.Error("journal counts", logging.Err(err))
	}
	return out
}

// ForEachOrder calls fn for each committed order in state (every order when state is ""), in
// order id order, until fn returns false. fn runs inside a read transaction: it must not call Do.
func (s *Store) ForEachOrder(state order.State, fn func(order.Order) bool) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOrders).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			o, _, err := decodeOrder(v)
			if err != nil {
				return err
			}
			if state != "" && o.State != state {
				continue
			}
			if !fn(o) {
				return nil
			}
		}
		return nil
	})
}

func decodeOrder(v []byte) (order.Order, bool, error) {
	if v == nil {
		return order.Order{}, false, nil
	}
	o, err := decodeOrderRecord(v)
	if err != nil {
		return order.Order{}, false, damaged("", fmt.Sprintf("order: %v", err))
	}
	return o, true, nil
}

// view runs a read transaction; after Close it fails with ErrClosed. bbolt dying on a damaged
// page (a panic or a fault) becomes an error wrapping ErrDamaged (see Store.Damaged).
func (s *Store) view(fn func(*bolt.Tx) error) error {
	err := guard(s.path, "read", func() error { return s.db.View(fn) })
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	s.markDamaged(err)
	return err
}

// jsonString returns s as it reads back from JSON. Keys are made from what the stored JSON says,
// and encoding/json turns each byte of invalid UTF-8 into U+FFFD, so lookups must do the same.
func jsonString(s string) string { return jsonText(s) }

// printable reports whether s is non-empty valid UTF-8 without control characters, as every name
// is.
func printable(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func isDecimal(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func be64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// u64 decodes an 8-byte big endian number; nil is 0.
func u64(b []byte) (uint64, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(b), nil
	}
	return 0, fmt.Errorf("%d bytes, want 8", len(b))
}
