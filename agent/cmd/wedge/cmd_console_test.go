package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"wedge/agent/config"
	"wedge/internal/webauth/password"
)

func TestConsoleHashPassword(t *testing.T) {
	old := consoleStdin
	t.Cleanup(func() { consoleStdin = old })
	consoleStdin = strings.NewReader("s3cret-pw\n")
	var out, errb bytes.Buffer
	if code := runCtx(context.Background(), []string{"console", "hash-password"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	h := strings.TrimSpace(out.String())
	if !password.Check(h, "s3cret-pw") || password.Check(h, "other") {
		t.Fatalf("hash %q does not check", h)
	}
	// The hash is accepted by the config as written.
	if _, err := config.Parse("t.yaml", []byte("site: s\nagent: a\nconsole:\n  users:\n    zhang: \""+h+"\"\n"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse("t.yaml", []byte("site: s\nagent: a\nconsole:\n  users:\n    zhang: plaintext\n"), nil); err == nil {
		t.Fatal("a plain password in console.users was accepted")
	}

	consoleStdin = strings.NewReader("\n")
	if code := runCtx(context.Background(), []string{"console", "hash-password"}, &out, &errb); code != exitUsage {
		t.Fatalf("empty password: exit %d", code)
	}
	if code := runCtx(context.Background(), []string{"console"}, &out, &errb); code != exitUsage {
		t.Fatalf("no subcommand: exit %d", code)
	}
}
