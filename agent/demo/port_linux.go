package demo

import "wedge/internal/pty"

// openScannerPort allocates the pseudo-terminal a simulated scanner types into: the driver opens
// the returned path, the operators write to the returned writer.
func openScannerPort() (simPort, error) {
	p, err := pty.Open()
	if err != nil {
		return nil, err
	}
	return ptyPort{p}, nil
}

type ptyPort struct{ p *pty.Pair }

func (p ptyPort) Write(b []byte) (int, error) { return p.p.Write(b) }
func (p ptyPort) Close() error                { return p.p.Close() }
func (p ptyPort) Path() string                { return p.p.Name }
