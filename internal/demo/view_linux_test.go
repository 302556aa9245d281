package demo

import (
	"testing"

	"wedge/internal/pty"
)

func TestIsTerminalPty(t *testing.T) {
	p, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !isTerminal(p.Main) {
		t.Error("a pseudo-terminal is not taken for a terminal")
	}
}
