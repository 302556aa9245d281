//go:build darwin && !cgo

package discovery

import "fmt"

// SystemSerialPorts needs cgo (IOKit) on macOS; a build without it cannot list serial ports.
func SystemSerialPorts() ([]Port, error) {
	return nil, fmt.Errorf("%w: this macOS build has no cgo (IOKit); build with CGO_ENABLED=1", ErrEnumerate)
}
