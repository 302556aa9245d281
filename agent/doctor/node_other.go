//go:build !unix

package doctor

import (
	"errors"
	"io/fs"
)

// FileGroup has no meaning off Unix: device access is checked by opening there.
func FileGroup(fs.FileInfo) (string, bool) { return "", false }

// FreeBytes is not implemented off Unix yet.
func FreeBytes(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}
