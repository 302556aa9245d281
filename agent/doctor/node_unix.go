//go:build unix

package doctor

import (
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

// FileGroup is the name of a file's group, from the file system.
func FileGroup(fi fs.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10))
	if err != nil {
		return strconv.FormatUint(uint64(st.Gid), 10), true
	}
	return g.Name, true
}

// FreeBytes is the space available to unprivileged users on dir's file system.
func FreeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
