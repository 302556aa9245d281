//go:build linux

package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"wedge/sync/wire"
)

// fullChildEnv names the db file a re-executed test binary fills until the file size limit
// (RLIMIT_FSIZE, the closest unprivileged stand-in for a full disk) makes bbolt's writes fail.
const fullChildEnv = "WEDGE_JOURNAL_FULL_CHILD"

func init() { children[fullChildEnv] = fullChild }

// fullChild prints "ok SEQ" for each acknowledged Do, "fail ERR" for each failed one, and
// "done LAST" at the end; any other way out is a failure.
func fullChild(path string) {
	signal.Ignore(syscall.SIGXFSZ) // get EFBIG from write(2) instead of dying
	s, err := Open(path, &Options{Site: "sz01", Agent: "pack02"})
	if err != nil {
		fmt.Println("fatal open:", err)
		os.Exit(2)
	}
	big := strings.Repeat("满", 3000) // ~9 KB per entry: the file must grow soon
	do := func() error {
		var seq uint64
		err := s.Do(context.Background(), func(tx *Tx) error {
			seq = tx.Append(wire.Entry{Kind: wire.KindNote, OrderID: "F", Detail: big}).Seq
			return nil
		})
		if err != nil {
			fmt.Printf("fail %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			if !errors.Is(err, ErrCommit) {
				fmt.Println("fatal: not ErrCommit")
				os.Exit(4)
			}
		} else {
			fmt.Printf("ok %d\n", seq)
		}
		return err
	}
	for range 5 {
		do()
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Println("fatal stat:", err)
		os.Exit(2)
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim)
	full := lim
	full.Cur = uint64(st.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		fmt.Println("fatal setrlimit:", err)
		os.Exit(2)
	}
	failures := 0
	for i := 0; i < 1000 && failures < 3; i++ {
		if do() != nil {
			failures++
		}
	}
	if failures < 3 {
		fmt.Println("fatal: the file never filled up")
		os.Exit(5)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil { // room again
		fmt.Println("fatal setrlimit:", err)
		os.Exit(2)
	}
	for range 5 {
		if do() != nil {
			os.Exit(6)
		}
	}
	if err := s.Close(); err != nil {
		fmt.Println("fatal close:", err)
		os.Exit(2)
	}
	fmt.Printf("done %d\n", s.LastSeq())
	os.Exit(0)
}

func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wedge.db")
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fullChildEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var acked []uint64
	fails, last := 0, uint64(0)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 2)
		switch f[0] {
		case "ok":
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			if seq != uint64(len(acked))+1 {
				t.Errorf("acknowledged seq %d after %d acknowledged: a failed commit left a gap or reused a seq", seq, len(acked))
			}
			acked = append(acked, seq)
		case "fail":
			fails++
			t.Logf("failed commit: %s", f[1])
		case "done":
			last, _ = strconv.ParseUint(f[1], 10, 64)
		default:
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if fails < 3 || last == 0 || last != uint64(len(acked)) {
		t.Fatalf("child output: %d failures, last %d, %d acknowledged\n%s", fails, last, len(acked), out)
	}
	rep := mustVerify(t, path)
	if rep.Entries != last {
		t.Errorf("verify walked %d entries, want %d", rep.Entries, last)
	}
}
