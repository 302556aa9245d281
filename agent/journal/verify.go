package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"wedge/order"
	"wedge/order/waybill"
	"wedge/sync/wire"
)

// VerifyLockTimeout is how long Verify waits for a process holding the db file.
const VerifyLockTimeout = time.Second

// Report is the result of Verify.
type Report struct {
	JournalID string
	Entries   uint64 // entries walked
	OK        bool
	FirstBad  uint64 // the first seq that is missing, edited or out of place (0 when the chain holds)
	Problem   string // what is wrong at FirstBad, Chinese then English
	// Damage says what is damaged in the file itself, Chinese then English: meta pages, bbolt
	// pages (a walk of every page, then bbolt's Tx.Check), meta values, orders, counts and indexes
	// that do not read back as the agent wrote them. Verify then also returns an error wrapping
	// ErrDamaged.
	Damage []string
}

// String is a summary for people, Chinese first: one line, then one line per damage.
func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("日志完好 journal OK: %s，%d 条记录 %d entries, hash chain intact", r.JournalID, r.Entries, r.Entries)
	}
	var b strings.Builder
	if r.FirstBad != 0 {
		fmt.Fprintf(&b, "日志已损坏 journal BROKEN: %s，自第 %d 条起 from seq %d: %s（已检查 %d 条 %d entries checked）",
			r.JournalID, r.FirstBad, r.FirstBad, r.Problem, r.Entries, r.Entries)
	} else {
		fmt.Fprintf(&b, "日志已损坏 journal BROKEN: %s，可读的 %d 条记录哈希链完好 the %d readable entries chain, 但文件已损坏 but the file is damaged",
			r.JournalID, r.Entries, r.Entries)
	}
	if len(r.Damage) > 0 {
		fmt.Fprintf(&b, "\n文件损坏 file damage (%d):", len(r.Damage))
		for _, d := range r.Damage {
			fmt.Fprintf(&b, "\n  - %s", d)
		}
	}
	return b.String()
}

// Verify checks the journal file at path offline, without trusting it: it reads every page of the
// file itself with bounds checks (no memory map, so a truncated or garbled file cannot make it
// fault), checks both meta pages, the page tree (types, bounds, key order, pages referenced twice,
// the freelist), the meta values, the orders against the counts and indexes, and walks the entries
// in seq order, checking every link of the hash chain and the tail against meta's last_seq and
// last_hash. When the pages are sound it also runs bbolt's own Tx.Check.
//
// A broken chain is a Report with OK false and a nil error. Damage to the file is listed in
// Report.Damage and returned as an error wrapping ErrDamaged as well. Other errors are for a file
// that could not be checked at all (missing, locked by a running agent, not a wedge journal).
func Verify(path string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("journal: verify: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Report{}, fmt.Errorf("journal: verify: %s: %w", path, err)
	}
	// bbolt's read-only open takes the shared lock (a running agent holds it exclusively) and
	// reads only the meta pages.
	var db *bolt.DB
	openErr := guard(path, "open", func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: VerifyLockTimeout})
		return err
	})
	if errors.Is(openErr, berrors.ErrTimeout) {
		return Report{}, fmt.Errorf("%w: %s: 日志正被运行中的代理使用，请先停止代理或复制文件后再检查 the journal is in use by a running agent: stop it or verify a copy", ErrLocked, path)
	}
	if db != nil {
		defer db.Close()
	}
	v := &verifier{path: path}
	if err := v.inspect(f, st.Size()); err != nil {
		return Report{JournalID: v.rep.JournalID}, err
	}
	if len(v.w.damage) == 0 {
		// The pages are sound, so bbolt can read them without faulting: let it check too.
		if openErr != nil {
			v.w.report("bbolt 无法打开 bbolt cannot open the file: %v", openErr)
		} else if err := guard(path, "check", func() error {
			return db.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					v.w.report("bbolt 检查 check: %v", err)
				}
				return nil
			})
		}); err != nil {
			v.w.report("%v", err)
		}
	}
	rep := v.rep
	rep.Damage = slices.Clone(v.w.damage)
	if v.w.more > 0 {
		rep.Damage = append(rep.Damage, fmt.Sprintf("……另有 %d 处 and %d more", v.w.more, v.w.more))
	}
	rep.OK = rep.FirstBad == 0 && len(rep.Damage) == 0
	if len(rep.Damage) > 0 {
		return rep, damaged(path, rep.Damage...)
	}
	return rep, nil
}

// verifier is one Verify.
type verifier struct {
	path string
	w    *walker
	rep  Report
}

// orderKeys is what the indexes are checked against.
type orderKeys struct{ waybill, channelNo string }

// inspect runs every check that needs no bbolt. It fails only for a sound bbolt file that is not
// a wedge journal; everything else is damage (v.w) or the chain's first break (v.rep).
func (v *verifier) inspect(r io.ReaderAt, size int64) error {
	bf, problems, err := openBoltFile(r, size)
	if err != nil {
		v.w = &walker{limit: 50}
		v.w.report("%v", err)
		return nil
	}
	w := newWalker(bf)
	v.w = w
	for _, p := range problems {
		w.report("%s", p)
	}
	for _, m := range bf.metas {
		switch {
		case m.problem != "":
			w.report("元数据页 %d 无效 meta page %d is invalid: %s", m.page, m.page, m.problem)
		case m.header != "":
			w.report("元数据页 %d meta page %d: %s", m.page, m.page, m.header)
		case m.slack:
			w.report("元数据页 %d 末尾有非零字节（bbolt 写入的是零）meta page %d holds non-zero bytes after the meta (bbolt writes zeros): changed on disk", m.page, m.page)
		}
	}
	if a, b := bf.metas[0], bf.metas[1]; a.problem == "" && b.problem == "" && a.psize != b.psize {
		w.report("两个元数据页的页大小不同 the meta pages disagree on the page size (%d, %d)", a.psize, b.psize)
	}
	before := len(w.damage) + w.more
	buckets := w.rootBuckets()
	rootOK := len(w.damage)+w.more == before
	var names, unknown []string
	ours := 0
	for name := range buckets {
		names = append(names, name)
		if slices.ContainsFunc(allBuckets, func(b []byte) bool { return string(b) == name }) {
			ours++
		} else {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(names)
	slices.Sort(unknown)
	if ours == 0 && len(w.damage) == 0 {
		return fmt.Errorf("%w: %s 不是 wedge 日志 is not a wedge journal (buckets %v)", ErrCorrupt, v.path, names)
	}
	for _, b := range allBuckets {
		if _, ok := buckets[string(b)]; !ok && rootOK { // else the root's damage says why
			w.report("缺少 %s 桶 the %s bucket is missing", b, b)
		}
	}
	if len(unknown) > 0 {
		w.report("未知的桶 unknown buckets %q", unknown)
	}

	metaLast, metaHash, metaOK := v.meta(buckets[string(bMeta)])
	v.entries(buckets[string(bEntries)], metaLast, metaHash, metaOK)
	orders, tally := v.orders(buckets[string(bOrders)])
	v.counts(buckets[string(bCounts)], tally)
	v.index(bIdxWaybill, buckets, orders, func(o orderKeys) string { return o.waybill })
	v.index(bIdxChannel, buckets, orders, func(o orderKeys) string { return o.channelNo })
	v.index(bIdxAssign, buckets, orders, nil) // may keep stale keys (see OrderByAssignedWaybill)
	if b, ok := buckets[string(bIdxHistory)]; ok {
		// Keys are order id (valid UTF-8: Append stores an entry as it reads back), 0, seq.
		w.bucket(string(bIdxHistory), b, func(k, val []byte, sub bool) {
			if sub || len(k) < 10 || k[len(k)-9] != 0 || len(val) != 0 || binary.BigEndian.Uint64(k[len(k)-8:]) == 0 || !utf8.Valid(k[:len(k)-9]) {
				w.report("%s: 键 %x 无效 key %x is not order id, 0, seq", bIdxHistory, k, k)
			}
		})
	}
	w.reachability()
	return nil
}

// meta checks the meta bucket's values and returns last_seq and last_hash (ok false when they
// cannot be read).
func (v *verifier) meta(b []byte) (last uint64, hash string, ok bool) {
	if b == nil {
		return 0, "", false
	}
	w := v.w
	m := map[string][]byte{}
	w.bucket(string(bMeta), b, func(k, val []byte, sub bool) {
		if sub {
			w.report("meta: %q 是桶 is a bucket", k)
			return
		}
		m[string(k)] = val
	})
	bad := func(key, format string, args ...any) {
		w.report("meta %s: %s", key, fmt.Sprintf(format, args...))
	}
	id := string(m[kJournalID])
	v.rep.JournalID = id
	if id == "" || !printable(id) {
		bad(kJournalID, "缺失或无效 missing or invalid: %q", id)
	}
	if f := string(m[kFormat]); f != formatV1 && f != formatV2 {
		bad(kFormat, "%q, 应为 want %s or %s", f, formatV1, formatV2)
	}
	for _, k := range []string{kSite, kAgent} {
		if !printable(string(m[k])) {
			bad(k, "缺失或无效 missing or invalid: %q", m[k])
		}
	}
	if _, err := wire.ParseTime(string(m[kCreatedAt])); err != nil {
		bad(kCreatedAt, "%v", err)
	}
	ok = true
	last, err := u64(m[kLastSeq])
	if err != nil {
		bad(kLastSeq, "%v", err)
		ok = false
	}
	acked, err := u64(m[kAckedSeq])
	if err != nil {
		bad(kAckedSeq, "%v", err)
	} else if ok && acked > last {
		bad(kAckedSeq, "%d 大于最后一条 is beyond the last seq %d", acked, last)
	}
	hash = string(m[kLastHash])
	if _, err := hex.DecodeString(hash); err != nil || (len(hash) != 64 && !(hash == "" && last == 0)) {
		bad(kLastHash, "无效 invalid: %q", hash)
	}
	for k := range m {
		switch {
		case k == kJournalID || k == kSite || k == kAgent || k == kCreatedAt || k == kLastSeq || k == kLastHash || k == kAckedSeq || k == kFormat:
		case strings.HasPrefix(k, appPrefix) && len(k) > len(appPrefix):
		default:
			w.report("meta: 未知的键 unknown key %q", k)
		}
	}
	return last, hash, ok
}

// entries walks the entries in seq order, checking the chain; the first break is the report's
// FirstBad. The walk goes on after it, so damage further on is still reported.
func (v *verifier) entries(b []byte, metaLast uint64, metaHash string, metaOK bool) {
	if b == nil {
		return
	}
	rep := &v.rep
	bad := func(seq uint64, format string, args ...any) {
		if rep.FirstBad == 0 {
			rep.FirstBad, rep.Problem = seq, fmt.Sprintf(format, args...)
		}
	}
	var prev *wire.Entry
	v.w.bucket(string(bEntries), b, func(k, val []byte, sub bool) {
		if rep.FirstBad != 0 {
			return
		}
		want := uint64(1)
		if prev != nil {
			want = prev.Seq + 1
		}
		if sub || len(k) != 8 {
			bad(want, "记录键无效 entry key %x is not an 8-byte seq", k)
			return
		}
		seq := binary.BigEndian.Uint64(k)
		if seq != want {
			bad(want, "缺少记录 entry %d is missing (next stored is %d): 记录被删除 entries were removed", want, seq)
			return
		}
		rep.Entries++
		e, err := decodeEntryRecord(val)
		if err != nil {
			if isJSONRecord(val) {
				bad(seq, "记录无法解析 entry %d is not valid JSON (edited): %v", seq, err)
			} else {
				bad(seq, "记录无法解析 entry %d does not decode (edited or damaged): %v", seq, err)
			}
			return
		}
		if e.Seq != seq {
			bad(seq, "记录位置错误 the entry stored at %d says seq %d: 记录被移动或调换 entries were reordered", seq, e.Seq)
			return
		}
		if rep.JournalID == "" {
			rep.JournalID = e.JournalID // meta unreadable: say which journal the entries belong to
		}
		if e.JournalID != rep.JournalID {
			bad(seq, "日志编号不符 entry %d belongs to journal %q, not %q", seq, e.JournalID, rep.JournalID)
			return
		}
		if err := wire.VerifyLink(prev, e); err != nil {
			bad(seq, "哈希链断裂 hash chain broken: %v", err)
			return
		}
		prev = &e
	})
	if rep.FirstBad != 0 || !metaOK {
		return
	}
	last, lastHash := uint64(0), ""
	if prev != nil {
		last, lastHash = prev.Seq, prev.Hash
	}
	switch {
	case metaLast > last:
		bad(last+1, "末尾记录缺失 entries %d–%d are missing: meta last_seq is %d, 尾部被截断 the tail was deleted", last+1, metaLast, metaLast)
	case metaLast < last:
		bad(metaLast+1, "多余记录 entries after meta last_seq %d (up to %d) were added outside the agent", metaLast, last)
	case metaHash != lastHash:
		bad(last, "末条哈希不符 the last entry's hash does not match meta last_hash: 最后一条被替换或其后记录被删除 the last entry was replaced or entries after it were removed")
	}
}

// orders checks that every order reads back as PutOrder wrote it, and returns what the indexes
// and counts are checked against.
func (v *verifier) orders(b []byte) (map[string]orderKeys, map[order.State]uint64) {
	orders, tally := map[string]orderKeys{}, map[order.State]uint64{}
	if b == nil {
		return orders, tally
	}
	w := v.w
	w.bucket(string(bOrders), b, func(k, val []byte, sub bool) {
		o, err := decodeOrderRecord(val)
		switch {
		case sub:
			w.report("orders: %q 是桶 is a bucket", k)
		case err != nil || (isJSONRecord(val) && !utf8.Valid(val)):
			w.report("订单 %q 无法读取 order %q does not read back: %v", k, k, err)
		case o.ID != string(k):
			w.report("订单 %q 的内容是订单 %q order %q holds order %q", k, o.ID, k, o.ID)
		case !o.State.Valid():
			w.report("订单 %q 的状态 %q 无效 order %q has an invalid state %q", k, o.State, k, o.State)
		default:
			tally[o.State]++
			orders[o.ID] = orderKeys{waybill.Normalize(o.Waybill), strings.TrimSpace(o.ChannelOrderNo)}
		}
	})
	return orders, tally
}

// counts checks the per-state counts against the orders.
func (v *verifier) counts(b []byte, tally map[order.State]uint64) {
	if b == nil {
		return
	}
	w := v.w
	seen := map[order.State]bool{}
	w.bucket(string(bCounts), b, func(k, val []byte, sub bool) {
		st := order.State(k)
		seen[st] = true
		n, err := u64(val)
		switch {
		case sub || !st.Valid():
			w.report("counts: 未知状态 unknown state %q", k)
		case err != nil:
			w.report("counts %s: %v", k, err)
		case n != tally[st]:
			w.report("counts %s: 记为 %d，实有订单 %d says %d, the orders hold %d", k, n, tally[st], n, tally[st])
		}
	})
	for st, n := range tally {
		if !seen[st] && n > 0 {
			w.report("counts %s: 缺失，实有订单 %d missing, the orders hold %d", st, n, n)
		}
	}
}

// index checks that each key of an index names an existing order, and (key given) the order's own
// value for it.
func (v *verifier) index(name []byte, buckets map[string][]byte, orders map[string]orderKeys, key func(orderKeys) string) {
	b, ok := buckets[string(name)]
	if !ok {
		return
	}
	w := v.w
	w.bucket(string(name), b, func(k, val []byte, sub bool) {
		o, ok := orders[string(val)]
		switch {
		case sub:
			w.report("%s: %q 是桶 is a bucket", name, k)
		case !ok:
			w.report("%s: %q 指向不存在的订单 names order %q, which does not exist", name, k, val)
		case key != nil && !bytes.Equal([]byte(key(o)), k):
			w.report("%s: %q 指向订单 %q，其值为 %q names order %q, whose value is %q", name, k, val, key(o), val, key(o))
		}
	})
}
