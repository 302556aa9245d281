package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"wedge/sync/wire"
)

// VerifyLockTimeout is how long Verify waits for a process holding the db file.
const VerifyLockTimeout = time.Second

// Report is the result of Verify.
type Report struct {
	JournalID string
	Entries   uint64 // entries walked
	OK        bool
	FirstBad  uint64 // the first seq that is missing, edited or out of place (0 when OK)
	Problem   string // what is wrong at FirstBad, Chinese then English
}

// String is a one-line summary for people, Chinese first.
func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("日志完好 journal OK: %s，%d 条记录 %d entries, hash chain intact", r.JournalID, r.Entries, r.Entries)
	}
	return fmt.Sprintf("日志已损坏 journal BROKEN: %s，自第 %d 条起 from seq %d: %s（已检查 %d 条 %d entries checked）",
		r.JournalID, r.FirstBad, r.FirstBad, r.Problem, r.Entries, r.Entries)
}

// Verify opens the journal file at path read-only and walks its entries in seq order, checking
// every link of the hash chain and the tail against meta's last_seq and last_hash. A broken
// journal is a Report with OK false (and a nil error); the error is for a file that could not be
// read at all (missing, locked by a running agent, not a wedge journal).
func Verify(path string) (Report, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: VerifyLockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return Report{}, fmt.Errorf("%w: %s: 日志正被运行中的代理使用，请先停止代理或复制文件后再检查 the journal is in use by a running agent: stop it or verify a copy", ErrLocked, path)
		}
		return Report{}, fmt.Errorf("journal: verify: open %s: %w", path, err)
	}
	defer db.Close()
	var rep Report
	err = db.View(func(tx *bolt.Tx) error {
		meta, entries := tx.Bucket(bMeta), tx.Bucket(bEntries)
		if meta == nil || entries == nil {
			return fmt.Errorf("%w: %s is not a wedge journal (no meta or entries bucket)", ErrCorrupt, path)
		}
		rep.JournalID = string(meta.Get([]byte(kJournalID)))
		metaLast, err := u64(meta.Get([]byte(kLastSeq)))
		if err != nil {
			return fmt.Errorf("%w: meta last_seq: %w", ErrCorrupt, err)
		}
		metaHash := string(meta.Get([]byte(kLastHash)))
		bad := func(seq uint64, format string, args ...any) error {
			rep.FirstBad, rep.Problem = seq, fmt.Sprintf(format, args...)
			return errBroken
		}
		var prev *wire.Entry
		c := entries.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			want := uint64(1)
			if prev != nil {
				want = prev.Seq + 1
			}
			if len(k) != 8 {
				return bad(want, "记录键无效 entry key %x is not an 8-byte seq", k)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return bad(want, "缺少记录 entry %d is missing (next stored is %d): 记录被删除 entries were removed", want, seq)
			}
			rep.Entries++
			var e wire.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return bad(seq, "记录无法解析 entry %d is not valid JSON (edited): %v", seq, err)
			}
			if e.Seq != seq {
				return bad(seq, "记录位置错误 the entry stored at %d says seq %d: 记录被移动或调换 entries were reordered", seq, e.Seq)
			}
			if rep.JournalID != "" && e.JournalID != rep.JournalID {
				return bad(seq, "日志编号不符 entry %d belongs to journal %q, not %q", seq, e.JournalID, rep.JournalID)
			}
			if err := wire.VerifyLink(prev, e); err != nil {
				return bad(seq, "哈希链断裂 hash chain broken: %v", err)
			}
			prev = &e
		}
		last, lastHash := uint64(0), ""
		if prev != nil {
			last, lastHash = prev.Seq, prev.Hash
		}
		switch {
		case metaLast > last:
			return bad(last+1, "末尾记录缺失 entries %d–%d are missing: meta last_seq is %d, 尾部被截断 the tail was deleted", last+1, metaLast, metaLast)
		case metaLast < last:
			return bad(metaLast+1, "多余记录 entries after meta last_seq %d (up to %d) were added outside the agent", metaLast, last)
		case metaHash != lastHash:
			return bad(last, "末条哈希不符 the last entry's hash does not match meta last_hash: 最后一条被替换或其后记录被删除 the last entry was replaced or entries after it were removed")
		}
		rep.OK = true
		return nil
	})
	if errors.Is(err, errBroken) {
		return rep, nil
	}
	if err != nil {
		return Report{JournalID: rep.JournalID, Entries: rep.Entries}, err
	}
	return rep, nil
}

// errBroken ends the walk at the first broken link.
var errBroken = errors.New("journal: chain broken")
