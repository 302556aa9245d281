package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"wedge/internal/pty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		cfg  Config
		want error
	}{
		{Config{Kind: TCP}, ErrAddress},
		{Config{Kind: "bluetooth", Address: "x"}, ErrUnknown},
		{Config{Kind: Serial, Address: "/dev/null", Serial: SerialMode{Parity: "mark"}}, ErrAddress},
		{Config{Kind: Serial, Address: "/dev/null", Serial: SerialMode{StopBits: 3}}, ErrAddress},
	} {
		if _, err := Open(ctx, c.cfg); !errors.Is(err, c.want) {
			t.Errorf("Open(%+v) = %v, want %v", c.cfg, err, c.want)
		}
	}
	if _, err := Open(ctx, Config{Kind: USBLP, Address: "/nonexistent/lp0"}); err == nil {
		t.Error("usblp on a missing path succeeded")
	}
}

func TestTCPDefaultPortAndExplicitPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	for _, cfg := range []Config{{Kind: TCP, Address: "127.0.0.1", Port: port}, {Address: "127.0.0.1:" + strconv.Itoa(port)}} {
		c, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "ok" {
			t.Fatalf("%+v: read %q", cfg, b)
		}
	}
}

// The serial and usblp transports both work on a pseudo-terminal: usblp is a character device opened
// with os.OpenFile, so a pty stands in for /dev/usb/lpN in tests.
func TestSerialAndUSBLPOnPTY(t *testing.T) {
	for _, kind := range []string{Serial, USBLP} {
		p, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, err := Open(context.Background(), Config{Kind: kind, Address: p.Name, Serial: SerialMode{Baud: 115200, Parity: "even", StopBits: 2}})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("~HS"))
		got := make([]byte, 3)
		if _, err := io.ReadFull(p, got); err != nil || string(got) != "~HS" {
			t.Fatalf("%s: device read %q, %v", kind, got, err)
		}
		p.Write([]byte{0x00})
		if _, err := io.ReadFull(c, got[:1]); err != nil || got[0] != 0 {
			t.Fatalf("%s: host read %v, %v", kind, got[:1], err)
		}
		c.Close()
		p.Close()
	}
}
