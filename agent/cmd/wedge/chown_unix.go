//go:build unix

package main

import (
	"os"
	"syscall"
)

// chownLike gives path the owner and group of dir when running as root (a journal restored by
// root must stay readable by the wedge service user, who owns the data directory).
func chownLike(path, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Chown(path, int(s.Uid), int(s.Gid))
}
