package journal

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"
	"wedge/internal/logging"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged means the journal file itself is damaged: bytes on disk were changed or lost (a meta
// page, a bbolt page, the file's tail, a record that no longer reads back). The error says what.
// The agent must not run on such a file: `wedge journal verify` shows what is damaged, and
// `wedge journal recover` rebuilds the journal from the hub's copy (or restore a backup). Errors
// wrapping ErrDamaged also match ErrCorrupt.
var ErrDamaged = errors.New("journal: 日志文件已损坏 the journal file is damaged")

// damageError is an ErrDamaged with what is damaged, Chinese then English.
type damageError struct {
	path     string // "" when not known where it was read
	what     []string
	panicked bool // bbolt panicked or faulted (else a check found it)
}

func damaged(path string, what ...string) error { return &damageError{path: path, what: what} }

func (e *damageError) Error() string {
	const shown = 5
	what := e.what
	more := ""
	if len(what) > shown {
		more = fmt.Sprintf("; …另有 %d 处 and %d more", len(what)-shown, len(what)-shown)
		what = what[:shown]
	}
	where := ""
	if e.path != "" {
		where = e.path + ": "
	}
	return fmt.Sprintf("%v: %s%s%s", ErrDamaged, where, strings.Join(what, "; "), more)
}

func (e *damageError) Is(target error) bool { return target == ErrDamaged || target == ErrCorrupt }

// guard runs fn with bbolt's two ways of dying on a damaged file turned into an error wrapping
// ErrDamaged: a panic (bbolt asserts on pages it finds inconsistent), and a memory fault reading
// the mapped file (SIGBUS past the end of a truncated file, SIGSEGV through a wild offset), which
// SetPanicOnFault turns into a panic on this goroutine instead of a crash of the process.
func guard(path, what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &damageError{path: path, what: []string{fmt.Sprintf("%s: bbolt 读到损坏的数据 bbolt hit damaged data: %v", what, r)}, panicked: true}
		}
	}()
	return fn()
}

// checkFile is Open's look at an existing file before bbolt maps it (see precheck). A file that
// cannot be read at all is left to bbolt, which says why.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	if what := precheck(f, st.Size()); len(what) > 0 {
		if st.Size() == 0 {
			what = append(what, "若此代理从未运行过，删除该空文件即可 if this agent never ran, delete the empty file")
		}
		return damaged(path, what...)
	}
	return nil
}

// lockedBy reports whether another process holds the file (a running agent): its writes may be
// what made the pre-check read an inconsistent file, so that is the answer to give, not damage.
// bbolt's read-only open takes a shared lock and reads only the meta pages, which the pre-check
// found to be inside the file.
func lockedBy(path string, timeout time.Duration) bool {
	var db *bolt.DB
	err := guard(path, "open", func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
		return err
	})
	if db != nil {
		db.Close()
	}
	return errors.Is(err, berrors.ErrTimeout)
}

// markDamaged records the first damage met at run time — bbolt panicked or faulted on a page, or a
// record did not read back — and logs it once.
func (s *Store) markDamaged(err error) {
	if errors.Is(err, ErrDamaged) && s.damage.CompareAndSwap(nil, &err) {
		s.log.Error("日志文件损坏，请停止代理并运行 wedge journal verify / journal damaged: stop the agent and run `wedge journal verify`", logging.Err(err))
	}
}

// Damaged returns the first damage met while the store was open (an error wrapping ErrDamaged),
// or nil. The calls that met it failed with it; the others go on, since the damage may concern a
// few orders only: whether to stop is the caller's decision.
func (s *Store) Damaged() error {
	if p := s.damage.Load(); p != nil {
		return *p
	}
	return nil
}
