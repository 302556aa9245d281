package hub

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wedge/sync/wire"
)

// Registry files: one-line keys with comments and blank lines, or PEM blocks; several keys per
// agent; bad files and names that are not site/agent names are skipped.
func TestKeyringLayout(t *testing.T) {
	dir := t.TempDir()
	p1, _, _ := wire.GenerateKey()
	p2, s2, _ := wire.GenerateKey()
	write := func(rel, content string) {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sz01/pack01.pub", "# pack01, rotated 2026-11\n\n"+wire.FormatPublicKey(p1)+"\n"+wire.FormatPublicKey(p2)+"\n")
	pem, _ := wire.MarshalPublicKey(p2)
	write("sz01/pack02.pub", string(pem))
	write("sz01/broken.pub", "ed25519:AAAA\n")
	write("sz01/notes.txt", wire.FormatPublicKey(p1))
	write("bad site/pack01.pub", wire.FormatPublicKey(p1))
	k, err := newKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.count() != 2 || len(k.problems) != 1 {
		t.Fatalf("agents %d, problems %v", k.count(), k.problems)
	}
	body := []byte(`{}`)
	for _, agent := range []string{"pack01", "pack02"} {
		v := k.verifier("sz01", agent)
		if _, _, err := v.Verify(wire.TopicEvents("sz01", agent), wire.NewSigner(s2).Sign(wire.TopicEvents("sz01", agent), body)); err != nil {
			t.Errorf("%s: %v", agent, err)
		}
	}
	if k.verifier("sz01", "broken") != nil || k.verifier("sz01", "notes") != nil {
		t.Fatal("a bad file or another extension was loaded")
	}
	now := time.Now()
	if k.due(now, false) || k.due(now, true) || !k.due(now.Add(keysMissReload), true) || k.due(now.Add(keysMissReload), false) || !k.due(now.Add(keysReload), false) {
		t.Fatal("reload schedule")
	}
}
