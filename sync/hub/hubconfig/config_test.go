package hubconfig

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .err golden files")

// TestGolden loads every testdata/*.yaml: a file with a .err twin must fail with exactly that text
// (every line names file, line and field); one without must load.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(name, data)
			errFile := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update && perr != nil {
				os.WriteFile(errFile, []byte(perr.Error()+"\n"), 0o644)
			}
			want, rerr := os.ReadFile(errFile)
			if rerr != nil {
				if perr != nil {
					t.Fatalf("want success, got:\n%v", perr)
				}
				return
			}
			if perr == nil {
				t.Fatalf("want error:\n%s", want)
			}
			if !errors.Is(perr, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", perr)
			}
			if got := perr.Error() + "\n"; got != string(want) {
				t.Errorf("error text:\n got: %s\nwant: %s", got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(perr.Error()), "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Errorf("error line does not start with the file name: %q", line)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("x.yaml", []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	for _, c := range []*Config{c, d} {
		if c.DataDir != DefaultDataDir || c.Broker.URL != DefaultBrokerURL || c.API.Listen != DefaultListen ||
			c.API.MetricsAuth != MetricsRead || c.Log.Level != "info" || c.Log.Format != "text" || !c.SharedSubscription() {
			t.Errorf("defaults not applied: %+v", c)
		}
	}
	off, err := Parse("x.yaml", []byte("broker: {shared: false}\n"))
	if err != nil || off.SharedSubscription() {
		t.Errorf("shared: false: %v %+v", err, off)
	}
}

func TestExampleLoads(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "hub.example.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("the documented example must load: %v", err)
	}
	if !strings.HasPrefix(c.Broker.URL, "ssl://") || c.Broker.ClientID == "" || c.SigningKey == "" || c.AgentKeys == "" ||
		len(c.API.AllowedHosts) == 0 || c.API.MetricsAuth != MetricsRead || len(c.Console.Users) != 2 ||
		c.Console.Users[0].Role != RoleSupervisor || len(c.Console.AllowedOrigins) != 1 {
		t.Errorf("example content: %+v", c)
	}
	for _, p := range []string{c.DataDir, c.Broker.CA, c.Broker.Cert, c.SigningKey, c.AgentKeys, c.Console.SessionKeyFile} {
		if !filepath.IsAbs(p) {
			t.Errorf("path %q not absolute", p)
		}
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hub.yaml")
	os.WriteFile(p, []byte("data_dir: ./d\nsigning_key: hub.key\nagent_keys: keys\nbroker: {ca: ca.pem}\napi: {bootstrap_token_file: admin.token}\nconsole: {session_key_file: console.key}\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "d") || c.SigningKey != filepath.Join(dir, "hub.key") || c.AgentKeys != filepath.Join(dir, "keys") ||
		c.Broker.CA != filepath.Join(dir, "ca.pem") || c.API.BootstrapTokenFile != filepath.Join(dir, "admin.token") ||
		c.Console.SessionKeyFile != filepath.Join(dir, "console.key") {
		t.Errorf("paths not resolved against the config dir: %+v", c)
	}
	if _, err := c.SessionKey(); !errors.Is(err, ErrRead) {
		t.Errorf("missing session key file: %v", err)
	}
	os.WriteFile(c.Console.SessionKeyFile, []byte(strings.Repeat("k", 40)+"\n"), 0o600)
	if k, err := c.SessionKey(); err != nil || string(k) != strings.Repeat("k", 40) {
		t.Errorf("session key %q, %v", k, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrRead) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParse: any bytes give a config or errors that name the file, never a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error without the file name: %v", err)
		}
	})
}

// The commented ewaybill section of the example loads once uncommented, with its defaults.
func TestExampleEWaybillSection(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "hub.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "# ewaybill:\n")
	if !ok {
		t.Fatal("no commented ewaybill section in the example")
	}
	var y strings.Builder
	y.WriteString("ewaybill:\n")
	for _, line := range strings.Split(section, "\n") {
		y.WriteString(strings.TrimPrefix(line, "# ") + "\n")
	}
	c, err := Parse("example-ewaybill.yaml", []byte(y.String()))
	if err != nil {
		t.Fatalf("the documented ewaybill section must load:\n%v", err)
	}
	e := c.EWaybill
	lo, hi, to := e.Durations()
	if e.Provider != EWaybillKuaidi100 || len(e.Carriers) != 2 || e.Carriers["zto"].PartnerKeyFile == "" || e.Sender.Name == "" ||
		lo != 5*time.Second || hi != 10*time.Minute || to != 30*time.Second || e.Concurrency != 4 {
		t.Errorf("ewaybill = %+v", e)
	}
}

func TestEWaybillPathsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hub.yaml")
	os.WriteFile(p, []byte("ewaybill: {provider: kuaidi100, key_file: k, secret_file: s, carriers: {zto: {partner_key_file: z}}}\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	e := c.EWaybill
	if e.KeyFile != filepath.Join(dir, "k") || e.SecretFile != filepath.Join(dir, "s") || e.Carriers["zto"].PartnerKeyFile != filepath.Join(dir, "z") {
		t.Errorf("paths not resolved: %+v", e)
	}
	if e.PrintType != "NON" || e.RetryMin != DefaultEWaybillRetryMin || e.RetryMax != DefaultEWaybillRetryMax || e.Timeout != DefaultEWaybillTimeout {
		t.Errorf("defaults not applied: %+v", e)
	}
	if d := Defaults(); d.EWaybill.Provider != "" || d.EWaybill.RetryMin != "" {
		t.Errorf("no provider must stay empty: %+v", d.EWaybill)
	}
}
