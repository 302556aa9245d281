package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wedge/internal/testbroker"
)

// Under systemd with WatchdogSec= (NOTIFY_SOCKET and WATCHDOG_USEC set), `wedge run` sends READY=1
// and then WATCHDOG=1 pings, and a clean stop sends STOPPING=1.
func TestRunPingsSystemdWatchdog(t *testing.T) {
	b := testbroker.Start(t, nil)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "300000") // 300 ms: a ping every 100 ms
	t.Setenv("WATCHDOG_PID", "")
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf("site: sz01\nagent: pack07\ndata_dir: data\nbroker: {url: %q, accept_unsigned: true}\napi: {listen: \"127.0.0.1:0\"}\nstations:\n  - {name: dock-1, role: handover}\n", b.URL())), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() { done <- cmdRun(ctx, []string{"--config", p}, &out, &errb) }()

	seen := map[string]int{}
	buf := make([]byte, 256)
	for seen["WATCHDOG=1"] < 3 {
		l.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("notify socket after %v: %v\n%s", seen, err, errb.String())
		}
		msg := string(buf[:n])
		if msg == "WATCHDOG=1" && seen["READY=1"] == 0 {
			t.Fatal("a watchdog ping before READY=1")
		}
		seen[msg]++
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for {
		l.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1: %v", err)
		}
		if string(buf[:n]) == "STOPPING=1" {
			return
		}
	}
}
