package pty

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := os.OpenFile(p.Name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	want := []byte("SF1385628716739\r\x00\xff")
	if _, err := p.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(port, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("port read %q, want %q (raw mode must pass bytes unchanged)", got, want)
	}
	if _, err := port.Write([]byte("\x1b7")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 2)
	if _, err := io.ReadFull(p, back); err != nil {
		t.Fatal(err)
	}
	if string(back) != "\x1b7" {
		t.Fatalf("device read %q", back)
	}
}
