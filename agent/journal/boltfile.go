package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
)

// This file reads a bbolt file without bbolt: with ReadAt and explicit bounds instead of a memory
// map, so that no damaged byte can make it fault (SIGBUS past the end of a truncated file) or
// panic. Open uses it for a look at the file's meta pages and inner pages before bbolt maps it
// (precheck); Verify and Salvage walk the whole page tree with it. The layout is bbolt v1.x's (go.etcd.io/bbolt
// internal/common: page.go, meta.go, bucket.go), in the machine's byte order as bbolt writes it.

// Layout of a bbolt file.
const (
	boltMagic    uint32 = 0xED0CDAED
	boltVersion  uint32 = 2
	pageHdrSize         = 16 // id u64, flags u16, count u16, overflow u32
	elemSize            = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	metaSize            = 64 // magic, version, pageSize, flags u32; root, seq, freelist, pgid, txid, checksum u64
	metaSumLen          = 56 // the checksum is fnv-64a over the meta up to the checksum field
	inBucketSize        = 16 // a bucket's value: root pgid u64, sequence u64, then an inline page if root is 0
	flagBranch          = 0x01
	flagLeaf            = 0x02
	flagMeta            = 0x04
	flagFreelist        = 0x10
	leafBucket          = 0x01 // leaf element flag: the value is a bucket
	noFreelist          = ^uint64(0)
	minPageSize         = 1 << 9
	maxPageSize         = 1 << 24
	maxTreeDepth        = 64 // far beyond any real bbolt tree; deeper means pages point in circles
)

var ne = binary.NativeEndian

// boltMeta is one of the two meta pages as read from the file.
type boltMeta struct {
	page                  int
	magic, version, psize uint32
	root, freelist, hwm   uint64
	txid, checksum        uint64
	problem               string // why bbolt would reject it; "" when valid
	header                string // a wrong page header (bbolt ignores it; Verify reports it)
	slack                 bool   // bytes after the meta are not zero (bbolt writes zeros)
}

// boltFile is a bbolt file opened for reading without bbolt.
type boltFile struct {
	r     io.ReaderAt
	size  int64
	metas [2]boltMeta
	meta  boltMeta // the meta bbolt uses: the valid one with the higher txid
	psize int
}

// readMeta reads the meta page at off (page index idx). buf may be short (a truncated file).
func readMeta(buf []byte, idx int) boltMeta {
	m := boltMeta{page: idx}
	if len(buf) < pageHdrSize+metaSize {
		m.problem = "缺失 missing (the file ends before it)"
		return m
	}
	h, b := buf[:pageHdrSize], buf[pageHdrSize:pageHdrSize+metaSize]
	m.magic, m.version, m.psize = ne.Uint32(b[0:]), ne.Uint32(b[4:]), ne.Uint32(b[8:])
	m.root, m.freelist, m.hwm = ne.Uint64(b[16:]), ne.Uint64(b[32:]), ne.Uint64(b[40:])
	m.txid, m.checksum = ne.Uint64(b[48:]), ne.Uint64(b[56:])
	sum := fnv.New64a()
	sum.Write(b[:metaSumLen])
	switch {
	case m.magic != boltMagic:
		m.problem = fmt.Sprintf("标记错误 bad magic %#x", m.magic)
	case m.version != boltVersion:
		m.problem = fmt.Sprintf("版本错误 bad version %d", m.version)
	case m.checksum != sum.Sum64():
		m.problem = "校验和不符 checksum mismatch"
	case m.psize < minPageSize || m.psize > maxPageSize || bits.OnesCount32(m.psize) != 1:
		m.problem = fmt.Sprintf("页大小无效 bad page size %d", m.psize)
	}
	if id, fl, cnt, ovf := ne.Uint64(h), ne.Uint16(h[8:]), ne.Uint16(h[10:]), ne.Uint32(h[12:]); id != uint64(idx) || fl != flagMeta || cnt != 0 || ovf != 0 {
		m.header = fmt.Sprintf("页头错误 bad page header (id %d, flags %#x, count %d, overflow %d)", id, fl, cnt, ovf)
	}
	return m
}

// openBoltFile reads both meta pages and picks the one bbolt would use. It fails (with what is
// wrong, Chinese then English) when no meta page is valid or its root page is not in the file:
// then nothing else can be located. Other problems of the file as a whole (it was truncated) come
// back in problems; what is left of it can still be walked.
func openBoltFile(r io.ReaderAt, size int64) (_ *boltFile, problems []string, _ error) {
	bf := &boltFile{r: r, size: size}
	if size == 0 {
		return nil, nil, fmt.Errorf("文件为空 the file is empty (0 bytes)")
	}
	at := func(off int64, idx int) (boltMeta, error) {
		buf := make([]byte, max(0, min(size-off, pageHdrSize+metaSize)))
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return boltMeta{}, err
		}
		return readMeta(buf, idx), nil
	}
	var err error
	if bf.metas[0], err = at(0, 0); err != nil {
		return nil, nil, err
	}
	psize := 0
	if bf.metas[0].problem == "" {
		psize = int(bf.metas[0].psize)
		if bf.metas[1], err = at(int64(psize), 1); err != nil {
			return nil, nil, err
		}
	} else {
		// Like bbolt: without a valid first meta, look for the second at each possible page size.
		bf.metas[1] = boltMeta{page: 1, problem: "在任何页大小处都找不到 not found at any page size"}
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps <<= 1 {
			m, err := at(ps, 1)
			if err != nil {
				return nil, nil, err
			}
			if m.problem == "" && int64(m.psize) == ps {
				bf.metas[1], psize = m, int(ps)
				break
			}
		}
	}
	if psize == 0 {
		return nil, nil, fmt.Errorf("两个元数据页均无效 both meta pages are invalid (page 0: %s) — 不是 bbolt 文件或文件头已损坏 not a bbolt file, or its header is destroyed", bf.metas[0].problem)
	}
	bf.psize = psize
	// The rest of a meta page is zeros as bbolt writes it; anything else was changed on disk.
	for i := range bf.metas {
		buf := make([]byte, max(0, min(size-int64(i*psize), int64(psize))))
		if _, err := r.ReadAt(buf, int64(i*psize)); err != nil && err != io.EOF {
			return nil, nil, err
		}
		if len(buf) == psize {
			bf.metas[i].slack = !allZero(buf[pageHdrSize+metaSize:])
		}
	}
	a, b := bf.metas[0], bf.metas[1]
	if b.txid > a.txid {
		a, b = b, a
	}
	switch {
	case a.problem == "":
		bf.meta = a
	case b.problem == "":
		bf.meta = b
	default:
		return nil, nil, fmt.Errorf("两个元数据页均无效 both meta pages are invalid (page 0: %s; page 1: %s)", bf.metas[0].problem, bf.metas[1].problem)
	}
	// The file must hold every page the meta describes; a shorter one was truncated (bbolt would
	// fault reading past its end). The walk can still read what is left, so this is not fatal.
	m := bf.meta
	if size%int64(psize) != 0 {
		problems = append(problems, fmt.Sprintf("文件长度 %d 不是页大小 %d 的整数倍，文件被截断 the file size %d is not a multiple of the page size %d: the file was truncated", size, psize, size, psize))
	}
	if m.hwm > uint64(size)/uint64(psize) {
		problems = append(problems, fmt.Sprintf("文件被截断 the file was truncated: 元数据页说有 %d 页，文件只有 %d 页 the meta page says %d pages, the file holds %d", m.hwm, size/int64(psize), m.hwm, size/int64(psize)))
	}
	switch {
	case m.hwm < 4:
		return nil, nil, fmt.Errorf("元数据页的页数 %d 无效 the meta page says the file has %d pages (at least 4)", m.hwm, m.hwm)
	case m.root < 2 || m.root >= m.hwm:
		return nil, nil, fmt.Errorf("根页号 %d 超出文件 root page id %d is outside the file's %d pages", m.root, m.root, m.hwm)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm || m.freelist == m.root):
		problems = append(problems, fmt.Sprintf("空闲页表页号 %d 无效 freelist page id %d is invalid (root %d, %d pages)", m.freelist, m.freelist, m.root, m.hwm))
	}
	return bf, problems, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// pageHeader is a page's header.
type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func parseHeader(b []byte) pageHeader {
	return pageHeader{id: ne.Uint64(b), flags: ne.Uint16(b[8:]), count: ne.Uint16(b[10:]), overflow: ne.Uint32(b[12:])}
}

// page reads page id with its overflow pages, checking what bbolt asserts (the page says it is id)
// and that it lies inside the file's used pages.
func (bf *boltFile) page(id uint64) ([]byte, pageHeader, error) {
	if id < 2 || id >= bf.meta.hwm {
		return nil, pageHeader{}, fmt.Errorf("页号 %d 超出范围 page id %d outside [2, %d)", id, id, bf.meta.hwm)
	}
	hb := make([]byte, pageHdrSize)
	if _, err := bf.r.ReadAt(hb, int64(id)*int64(bf.psize)); err != nil {
		return nil, pageHeader{}, fmt.Errorf("页 %d 无法读取 page %d unreadable: %v", id, id, err)
	}
	h := parseHeader(hb)
	switch {
	case h.id != id:
		return nil, h, fmt.Errorf("页 %d 自称第 %d 页 page %d says it is page %d", id, h.id, id, h.id)
	case uint64(h.overflow) >= bf.meta.hwm-id:
		return nil, h, fmt.Errorf("页 %d 的溢出页数 %d 超出文件 page %d overflows by %d pages, past the end", id, h.overflow, id, h.overflow)
	}
	buf := make([]byte, (int64(h.overflow)+1)*int64(bf.psize))
	if _, err := bf.r.ReadAt(buf, int64(id)*int64(bf.psize)); err != nil {
		return nil, h, fmt.Errorf("页 %d 无法读取 page %d unreadable: %v", id, id, err)
	}
	return buf, h, nil
}

// freelist reads the page ids on the freelist page (nil when the file keeps none).
func (bf *boltFile) freelist() ([]uint64, error) {
	if bf.meta.freelist == noFreelist {
		return nil, nil
	}
	p, h, err := bf.page(bf.meta.freelist)
	if err != nil {
		return nil, fmt.Errorf("空闲页表 freelist: %w", err)
	}
	if h.flags != flagFreelist {
		return nil, fmt.Errorf("空闲页表页 %d 类型错误 freelist page %d has type %#x", h.id, h.id, h.flags)
	}
	start, n := pageHdrSize, uint64(h.count)
	if h.count == 0xFFFF { // bbolt keeps a longer count in the first element
		if len(p) < pageHdrSize+8 {
			return nil, fmt.Errorf("空闲页表损坏 freelist page %d is cut short", h.id)
		}
		n, start = ne.Uint64(p[pageHdrSize:]), pageHdrSize+8
	}
	if n > uint64(len(p)-start)/8 {
		return nil, fmt.Errorf("空闲页表损坏 freelist page %d claims %d ids, more than it holds", h.id, n)
	}
	ids := make([]uint64, n)
	seen := newBitset(bf.meta.hwm)
	for i := range ids {
		id := ne.Uint64(p[start+8*i:])
		switch {
		case id < 2 || id >= bf.meta.hwm:
			return nil, fmt.Errorf("空闲页表含无效页号 freelist lists page %d, outside [2, %d)", id, bf.meta.hwm)
		case seen.get(id):
			return nil, fmt.Errorf("空闲页表重复 freelist lists page %d twice", id)
		case id == bf.meta.root || (id >= h.id && id <= h.id+uint64(h.overflow)):
			return nil, fmt.Errorf("空闲页表列出了在用的页 freelist lists page %d, which is in use (root or freelist)", id)
		}
		seen.set(id)
		ids[i] = id
	}
	return ids, nil
}

// precheck is the look Open takes before bbolt maps the file: both meta pages valid, a size that
// holds every page the meta describes (bbolt faults with SIGBUS reading past the end of a truncated
// file), the root and freelist pages where the meta says, freelist ids that bbolt could hand out
// without overwriting the file's structure, and the inner pages of every bucket's tree (see
// skeleton). It reads no leaf page but the root bucket's: its cost is about 1% of the file. It
// returns what is wrong, or nil.
func precheck(r io.ReaderAt, size int64) []string {
	bf, out, err := openBoltFile(r, size)
	if err != nil {
		return []string{err.Error()}
	}
	if len(out) > 0 {
		return out // truncated: nothing past the end can be checked
	}
	for _, m := range bf.metas {
		if m.problem != "" {
			out = append(out, fmt.Sprintf("元数据页 %d 无效 meta page %d is invalid: %s", m.page, m.page, m.problem))
		} else if m.header != "" {
			out = append(out, fmt.Sprintf("元数据页 %d meta page %d: %s", m.page, m.page, m.header))
		}
	}
	if a, b := bf.metas[0], bf.metas[1]; a.problem == "" && b.problem == "" && a.psize != b.psize {
		out = append(out, fmt.Sprintf("两个元数据页的页大小不同 the meta pages disagree on the page size (%d, %d)", a.psize, b.psize))
	}
	if _, h, err := bf.page(bf.meta.root); err != nil {
		out = append(out, "根页 root page: "+err.Error())
	} else if h.flags != flagLeaf && h.flags != flagBranch {
		out = append(out, fmt.Sprintf("根页 %d 类型错误 root page %d has type %#x", h.id, h.id, h.flags))
	}
	free, err := bf.freelist()
	if err != nil {
		out = append(out, err.Error())
	}
	if len(out) > 0 {
		return out
	}
	return bf.skeleton(free)
}

// bitset is a set of page ids below the file's high water mark (a bit each: files grow large).
type bitset []uint64

func newBitset(n uint64) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) get(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) set(i uint64)      { b[i/64] |= 1 << (i % 64) }

// skeletonWalk is one skeleton check.
type skeletonWalk struct {
	bf         *boltFile
	seen, free bitset
	out        []string
}

// skeleton checks the inner (branch) pages of every bucket's tree, which bbolt descends on every
// read: each child page id inside the file, not free, referenced once, and a branch page where the
// tree has branches (bbolt's trees are balanced: all leaves at one depth). A wrong child id there
// makes bbolt descend for ever (a page pointing back to its ancestor) or read a free page's stale
// data. Leaves are not read, but for the root bucket's (they name the buckets): their number grows
// with the journal, and bbolt's panics and faults on a damaged leaf are recovered (see guard).
func (bf *boltFile) skeleton(free []uint64) []string {
	n := bf.meta.hwm
	sk := &skeletonWalk{bf: bf, seen: newBitset(n), free: newBitset(n)}
	sk.seen.set(0)
	sk.seen.set(1)
	for _, id := range free {
		sk.free.set(id)
	}
	if bf.meta.freelist != noFreelist {
		if _, h, err := bf.page(bf.meta.freelist); err == nil {
			for i := uint64(0); i <= uint64(h.overflow); i++ {
				sk.seen.set(h.id + i)
			}
		}
	}
	sk.tree("root", bf.meta.root, func(p []byte) {
		h := parseHeader(p)
		for i := 0; i < int(h.count) && len(sk.out) < 10; i++ {
			off := pageHdrSize + i*elemSize
			if off+elemSize > len(p) {
				sk.problem("根页元素越界 the root bucket's elements do not fit its page")
				return
			}
			e := p[off:]
			flags, pos, ksize, vsize := ne.Uint32(e), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
			start := uint64(off) + pos
			if start+ksize+vsize > uint64(len(p)) {
				sk.problem("根页元素越界 the root bucket's element %d points past its page", i)
				return
			}
			if flags&leafBucket == 0 || vsize < inBucketSize {
				continue // not a bucket: Open says so through bbolt
			}
			name, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
			if root := ne.Uint64(v); root != 0 {
				sk.tree(fmt.Sprintf("%q", name), root, nil)
			}
		}
	})
	return sk.out
}

func (sk *skeletonWalk) problem(format string, args ...any) {
	if len(sk.out) < 10 {
		sk.out = append(sk.out, fmt.Sprintf(format, args...))
	}
}

// tree checks the tree at page id. leaf, if set, is given each leaf page (read only then).
func (sk *skeletonWalk) tree(name string, id uint64, leaf func([]byte)) {
	// The depth of the leaves, from the leftmost path.
	depth, at := 0, id
	for ; ; depth++ {
		if depth > maxTreeDepth {
			sk.problem("桶 %s 的树过深 bucket %s: deeper than %d levels (pages point in circles)", name, name, maxTreeDepth)
			return
		}
		p, h, err := sk.bf.page(at)
		if err != nil {
			sk.problem("桶 %s bucket %s: %v", name, name, err)
			return
		}
		if h.flags == flagLeaf {
			break
		}
		if h.flags != flagBranch {
			sk.problem("桶 %s: 页 %d 类型错误 bucket %s: page %d has type %#x", name, at, name, at, h.flags)
			return
		}
		if h.count == 0 || len(p) < pageHdrSize+elemSize {
			sk.problem("桶 %s: 页 %d 是空的分支页 bucket %s: page %d is an empty branch", name, at, name, at)
			return
		}
		at = ne.Uint64(p[pageHdrSize+8:])
	}
	sk.visit(name, id, 0, depth, leaf)
}

// visit checks page id at level of a tree whose leaves are at depth.
func (sk *skeletonWalk) visit(name string, id uint64, level, depth int, leaf func([]byte)) {
	if len(sk.out) >= 10 {
		return
	}
	switch {
	case id < 2 || id >= sk.bf.meta.hwm:
		sk.problem("桶 %s: 页号 %d 超出范围 bucket %s: page id %d outside [2, %d)", name, id, name, id, sk.bf.meta.hwm)
		return
	case sk.free.get(id):
		sk.problem("桶 %s: 页 %d 在用却被列为空闲 bucket %s: page %d is in use and on the freelist", name, id, name, id)
		return
	case sk.seen.get(id):
		sk.problem("桶 %s: 页 %d 被多次引用 bucket %s: page %d is referenced twice", name, id, name, id)
		return
	}
	sk.seen.set(id)
	if level == depth && leaf == nil {
		return // a leaf: not read
	}
	p, h, err := sk.bf.page(id)
	if err != nil {
		sk.problem("桶 %s bucket %s: %v", name, name, err)
		return
	}
	for i := uint64(1); i <= uint64(h.overflow); i++ {
		sk.seen.set(id + i)
	}
	if level == depth {
		if h.flags != flagLeaf {
			sk.problem("桶 %s: 页 %d 类型 %#x，应为叶页 bucket %s: page %d has type %#x, want a leaf", name, id, h.flags, name, id, h.flags)
			return
		}
		leaf(p)
		return
	}
	if h.flags != flagBranch || h.count == 0 || uint64(pageHdrSize)+uint64(h.count)*elemSize > uint64(len(p)) {
		sk.problem("桶 %s: 页 %d（类型 %#x，%d 个元素）不是有效的分支页 bucket %s: page %d (type %#x, %d elements) is not a valid branch", name, id, h.flags, h.count, name, id, h.flags, h.count)
		return
	}
	for i := 0; i < int(h.count); i++ {
		sk.visit(name, ne.Uint64(p[pageHdrSize+i*elemSize+8:]), level+1, depth, leaf)
	}
}

// walker walks a bbolt file's page tree with bounds checks on every read. It never panics on
// damaged input: a page it cannot trust is reported and skipped, and the walk goes on with the
// rest, so Verify can say everything that is wrong and Salvage can read everything that is not.
type walker struct {
	bf     *boltFile
	seen   bitset // pages reached (with their overflow pages)
	damage []string
	limit  int // damage lines kept; the rest only counted
	more   int
}

func newWalker(bf *boltFile) *walker {
	w := &walker{bf: bf, seen: newBitset(bf.meta.hwm), limit: 50}
	w.seen.set(0)
	w.seen.set(1)
	return w
}

func (w *walker) report(format string, args ...any) {
	if len(w.damage) < w.limit {
		w.damage = append(w.damage, fmt.Sprintf(format, args...))
		return
	}
	w.more++
}

// kv is called for each key/value of a bucket, in the order the tree holds them. sub is true for a
// nested bucket (value is the bucket's header and inline page).
type kv func(key, value []byte, sub bool)

// rootBuckets returns the buckets at the top of the file (name → bucket value).
func (w *walker) rootBuckets() map[string][]byte {
	out := map[string][]byte{}
	w.tree("root", w.bf.meta.root, nil, nil, 0, func(k, v []byte, sub bool) {
		if !sub {
			w.report("根目录中的 %q 不是桶 top-level key %q is not a bucket", k, k)
			return
		}
		out[string(k)] = append([]byte(nil), v...)
	})
	return out
}

// bucket walks the bucket whose value (header, inline page) is v.
func (w *walker) bucket(name string, v []byte, fn kv) {
	if len(v) < inBucketSize {
		w.report("桶 %s 的头部被截断 bucket %s: header cut short (%d bytes)", name, name, len(v))
		return
	}
	if root := ne.Uint64(v); root != 0 {
		if len(v) != inBucketSize { // bbolt writes the header alone for a bucket with its own pages
			w.report("桶 %s 的头部长度 %d 错误 bucket %s: header of %d bytes, want %d", name, len(v), name, len(v), inBucketSize)
		}
		w.tree(name, root, nil, nil, 0, fn)
		return
	}
	inline := v[inBucketSize:]
	if len(inline) < pageHdrSize {
		w.report("桶 %s 的内联页被截断 bucket %s: inline page cut short", name, name)
		return
	}
	if h := parseHeader(inline); h.flags != flagLeaf || h.overflow != 0 {
		w.report("桶 %s 的内联页类型错误 bucket %s: inline page has type %#x", name, name, h.flags)
		return
	}
	if end := w.node(name, "inline", inline, nil, nil, 0, fn); end != len(inline) { // bbolt sizes it exactly
		w.report("桶 %s 的内联页长度不符 bucket %s: inline page of %d bytes holds %d", name, name, len(inline), end)
	}
}

// tree walks the subtree at page id, whose keys must lie in [lo, hi) (nil: unbounded).
func (w *walker) tree(name string, id uint64, lo, hi []byte, depth int, fn kv) {
	if depth > maxTreeDepth {
		w.report("桶 %s 的树过深 bucket %s: the tree is deeper than %d levels at page %d (pages point in circles)", name, name, maxTreeDepth, id)
		return
	}
	if id < w.bf.meta.hwm && w.seen.get(id) {
		w.report("桶 %s: 页 %d 被多次引用 bucket %s: page %d is referenced twice", name, id, name, id)
		return
	}
	p, h, err := w.bf.page(id) // inside the file's pages, with its overflow
	if err != nil {
		w.report("桶 %s bucket %s: %v", name, name, err)
		return
	}
	for i := uint64(0); i <= uint64(h.overflow); i++ {
		if w.seen.get(id + i) {
			w.report("桶 %s: 页 %d 被多次引用 bucket %s: page %d is referenced twice", name, id+i, name, id+i)
		}
		w.seen.set(id + i)
	}
	if h.flags != flagBranch && h.flags != flagLeaf {
		w.report("桶 %s: 页 %d 类型错误 bucket %s: page %d has type %#x, want branch or leaf", name, id, name, id, h.flags)
		return
	}
	w.node(name, fmt.Sprintf("page %d", id), p, lo, hi, depth, fn)
}

// node reads the elements of one page (p holds it whole) and descends into branch children. It
// returns where the page's data ends (-1 when the page is unreadable).
func (w *walker) node(name, where string, p []byte, lo, hi []byte, depth int, fn kv) (end int) {
	h := parseHeader(p)
	n := int(h.count)
	if uint64(pageHdrSize)+uint64(n)*elemSize > uint64(len(p)) {
		w.report("桶 %s %s: 元素数 %d 超出页面 bucket %s %s: %d elements do not fit", name, where, n, name, where, n)
		return -1
	}
	if h.flags == flagBranch && n == 0 {
		w.report("桶 %s %s: 空的分支页 bucket %s %s: empty branch page", name, where, name, where)
		return -1
	}
	// bbolt packs the keys and values right after the elements, in element order: an element whose
	// data is anywhere else (a changed position or size) was not written by bbolt.
	end = pageHdrSize + n*elemSize
	type child struct {
		key []byte
		id  uint64
	}
	var children []child
	prev := lo
	for i := 0; i < n; i++ {
		off := pageHdrSize + i*elemSize
		e := p[off : off+elemSize]
		var flags uint32
		var pos, ksize, vsize uint64
		if h.flags == flagBranch {
			pos, ksize = uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:]))
		} else {
			flags, pos, ksize, vsize = ne.Uint32(e), uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		}
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(p)) {
			w.report("桶 %s %s: 第 %d 个元素越界 bucket %s %s: element %d points past the page", name, where, i, name, where, i)
			return -1
		}
		if start != uint64(end) || ksize == 0 {
			w.report("桶 %s %s: 第 %d 个元素的位置或长度错误 bucket %s %s: element %d has a wrong position or size", name, where, i, name, where, i)
			return -1
		}
		end = int(start + ksize + vsize)
		key := p[start : start+ksize]
		if (prev != nil && (bytes.Compare(key, prev) < 0 || (i > 0 && bytes.Equal(key, prev)))) || (hi != nil && bytes.Compare(key, hi) >= 0) {
			w.report("桶 %s %s: 键顺序错误 bucket %s %s: key %x out of order", name, where, name, where, key)
			return -1
		}
		prev = key
		if h.flags == flagBranch {
			children = append(children, child{key, ne.Uint64(e[8:])})
			continue
		}
		if flags&^leafBucket != 0 {
			w.report("桶 %s %s: 元素 %x 标志无效 bucket %s %s: key %x has flags %#x", name, where, key, name, where, key, flags)
			continue
		}
		fn(key, p[start+ksize:start+ksize+vsize], flags&leafBucket != 0)
	}
	for i, c := range children {
		var next []byte = hi
		if i+1 < len(children) {
			next = children[i+1].key
		}
		w.tree(name, c.id, c.key, next, depth+1, fn)
	}
	return end
}

// reachability reports pages that are neither in the tree nor free, and free pages in the tree,
// as bbolt's Tx.Check does.
func (w *walker) reachability() {
	free, err := w.bf.freelist()
	if err != nil {
		w.report("%v", err)
		return
	}
	if w.bf.meta.freelist == noFreelist {
		return
	}
	if _, fh, err := w.bf.page(w.bf.meta.freelist); err == nil {
		for i := uint64(0); i <= uint64(fh.overflow); i++ {
			w.seen.set(fh.id + i)
		}
	}
	freed := newBitset(w.bf.meta.hwm)
	for _, id := range free { // inside the file's pages: freelist checks that
		freed.set(id)
		if w.seen.get(id) {
			w.report("页 %d 既在用又被列为空闲 page %d is in use and on the freelist", id, id)
		}
	}
	lost, first := 0, uint64(0)
	for id := uint64(2); id < w.bf.meta.hwm; id++ {
		if !w.seen.get(id) && !freed.get(id) {
			if lost++; lost == 1 {
				first = id
			}
		}
	}
	if lost > 0 {
		w.report("%d 个页既不可达也不空闲 %d pages are neither reachable nor free (first: %d)", lost, lost, first)
	}
}
