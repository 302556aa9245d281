//go:build !darwin || cgo

package discovery

import (
	"fmt"

	"go.bug.st/serial/enumerator"
)

// SystemSerialPorts lists serial ports through go.bug.st/serial/enumerator.
func SystemSerialPorts() ([]Port, error) {
	ps, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnumerate, err)
	}
	out := make([]Port, 0, len(ps))
	for _, p := range ps {
		out = append(out, Port{Name: p.Name, IsUSB: p.IsUSB, VID: p.VID, PID: p.PID, SerialNumber: p.SerialNumber, Product: p.Product})
	}
	return out, nil
}
