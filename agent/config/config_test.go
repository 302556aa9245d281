package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
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
			_, perr := Parse(name, data, nil)
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
	c, err := Parse("x.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.PairWindow.D() != 30*time.Second || c.OperatorPattern != DefaultOperatorPattern ||
		c.API.Listen != DefaultAPIListen || c.Broker.URL != DefaultBrokerURL || c.DataDir != DefaultDataDir || c.Log.Level != "info" || c.Log.Format != "text" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if !c.OperatorRE().MatchString("OP-zhang3") || c.OperatorRE().MatchString("OP-") || c.OperatorRE().MatchString("4012345678901") {
		t.Error("default operator pattern")
	}
}

func TestExampleLoads(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.example.yaml")
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("the documented example must load: %v", err)
	}
	if c.Site != "sz01" || len(c.Stations) != 2 || len(c.Devices) != 2 || c.Devices[0].Profile == "" {
		t.Errorf("example content: %+v", c)
	}
	if !filepath.IsAbs(c.DataDir) {
		t.Errorf("data_dir %q not absolute", c.DataDir)
	}
	if err := c.CheckOrderNo("Tmall", "401234567890123"); err != nil {
		t.Errorf("valid tmall order no refused: %v", err)
	}
	if err := c.CheckOrderNo("tmall", "12345"); err == nil {
		t.Error("short tmall order no passed the contract")
	}
	if err := c.CheckOrderNo("kuaishou", "KS20261111000001"); err != nil {
		t.Errorf("unknown channel must pass when not strict: %v", err)
	}
	c.StrictChannels = true
	if err := c.CheckOrderNo("kuaishou", "KS20261111000001"); err == nil {
		t.Error("unknown channel passed with strict_channels")
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wedge.yaml")
	os.WriteFile(p, []byte("site: s\nagent: a\ndata_dir: ./d\nprofiles_dir: prof\n"), 0o644)
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "d") || c.ProfilesDir != filepath.Join(dir, "prof") {
		t.Errorf("paths not resolved against the config dir: %q %q", c.DataDir, c.ProfilesDir)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, ErrRead) {
		t.Errorf("missing file: %v", err)
	}
}

func TestProfileCheck(t *testing.T) {
	src := `site: s
agent: a
stations: [{name: p, role: print}]
devices:
  - {name: d1, station: p, transport: serial, port: /dev/x, profile: nope}
  - {name: d2, station: p, transport: serial, port: /dev/y, profile: zebra-zd421}
  - {name: d3, station: p, transport: serial, port: /dev/z, profile: generic-serial-cr}
`
	known := map[string]string{"zebra-zd421": "printer", "generic-serial-cr": "scanner"}
	_, err := Parse("w.yaml", []byte(src), &Options{ProfileKind: func(id string) (string, bool) { k, ok := known[id]; return k, ok }})
	want := `w.yaml:5: devices[0].profile: "nope" is not a known firmware profile
w.yaml:6: devices[1].profile: "zebra-zd421" is a printer profile, the device is a scanner`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
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
		c, err := Parse("f.yaml", data, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if c.Site == "" || c.PairWindow <= 0 || c.OperatorRE() == nil {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		if h := c.SettingsHash(); h == "" || len(c.Settings()) == 0 {
			t.Fatalf("no settings for a loaded config: %q", h)
		}
	})
}

// A scanner's profile must have settings for its transport, and unquoted numeric USB ids stay text.
func TestProfileTransports(t *testing.T) {
	src := `site: s
agent: a
stations: [{name: p, role: print}]
devices:
  - {name: d1, station: p, transport: hid, match: {vid: 0C2E, pid: 1001}, profile: generic-serial-cr}
  - {name: d2, station: p, transport: serial, match: {vid: 0C2E}, profile: generic-hid-pos}
  - {name: d3, station: p, transport: hid, match: {vid: 0C2E, pid: 0001}, profile: generic-hid-pos}
`
	kinds := func(string) (string, bool) { return "scanner", true }
	ts := map[string][]string{"generic-serial-cr": {"serial"}, "generic-hid-pos": {"hid"}}
	_, err := Parse("w.yaml", []byte(src), &Options{ProfileKind: kinds, ProfileTransports: func(id string) []string { return ts[id] }})
	want := `w.yaml:5: devices[0].profile: "generic-serial-cr" has no hid settings (it has: serial); use a hid profile such as generic-hid-pos or generic-keyboard
w.yaml:6: devices[1].profile: "generic-hid-pos" has no serial settings (it has: hid); use a serial profile such as generic-serial-cr`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	c, err := Parse("w.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Devices[2].Match; m.VID != "0C2E" || m.PID != "0001" {
		t.Errorf("unquoted ids: %+v", m)
	}
}

// validate only reports: after the defaults are set, it leaves the configuration as it found it.
func TestValidateOnlyReports(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, filepath.Join("..", "..", "docs", "config.example.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		var a, b Config
		if yaml.Unmarshal(data, &root) != nil || yaml.Unmarshal(data, &a) != nil || yaml.Unmarshal(data, &b) != nil {
			continue // a syntax or type error: validate never runs
		}
		a.setDefaults()
		b.setDefaults()
		a.validate(f, &root, &Options{ProfileKind: func(string) (string, bool) { return KindScanner, true }})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: validate changed the configuration:\n%+v\n%+v", f, a, b)
		}
	}
}

func TestLogSection(t *testing.T) {
	c, err := Parse("x.yaml", []byte("site: s\nagent: a\nlog: {level: warn, format: json}\n"), nil)
	if err != nil || c.Log.Level != "warn" || c.Log.Format != "json" {
		t.Fatalf("%v %+v", err, c)
	}
	_, err = Parse("x.yaml", []byte("site: s\nagent: a\nlog:\n  level: loud\n  format: xml\n"), nil)
	want := "x.yaml:4: log.level: \"loud\": want debug, info, warn or error\nx.yaml:5: log.format: \"xml\": want text or json"
	if !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// Channel names are matched case-insensitively, so two spellings of one channel are refused
// rather than one contract silently replacing the other.
func TestDuplicateChannel(t *testing.T) {
	_, err := Parse("x.yaml", []byte("site: s\nagent: a\nchannels:\n  tmall: {order_no_pattern: \"^1$\"}\n  Tmall: {order_no_pattern: \"^2$\"}\n"), nil)
	want := `x.yaml:4: channels.tmall: "tmall" is the same channel as "Tmall" (names are matched case-insensitively)`
	if !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// Without channels: every order still meets the default contract: at least 12 letters or digits.
// It can be changed globally, and a channel's own pattern replaces it for that channel.
func TestDefaultContract(t *testing.T) {
	c, err := Parse("x.yaml", []byte("site: s\nagent: a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Contract.DefaultOrderNoPattern != DefaultOrderNoPattern {
		t.Errorf("default pattern %q", c.Contract.DefaultOrderNoPattern)
	}
	for _, no := range []string{"401234567890", "4012345678901234567", "TB2026111100001", "ab12CD34ef56"} {
		if err := c.CheckOrderNo("tmall", no); err != nil {
			t.Errorf("%q refused: %v", no, err)
		}
	}
	for _, no := range []string{"", "x1", "40123456789", "TB-2026111100001", "2026 11110000 1", "４０１２３４５６７８９０１２", strings.Repeat("1", 65)} {
		err := c.CheckOrderNo("tmall", no)
		if err == nil {
			t.Errorf("%q passed the default contract", no)
		} else if !strings.Contains(err.Error(), "default_order_no_pattern") || !strings.Contains(err.Error(), "数据契约") {
			t.Errorf("%q: the refusal names neither the setting nor the rule: %v", no, err)
		}
	}

	c, err = Parse("x.yaml", []byte("site: s\nagent: a\ncontract: {default_order_no_pattern: \"^[0-9]{6,}$\"}\nchannels:\n  pdd: {order_no_pattern: \"^\\\\d{6}-\\\\d{15}$\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckOrderNo("jd", "123456") != nil || c.CheckOrderNo("jd", "ABC123456") == nil {
		t.Error("the configured default pattern is not the one applied")
	}
	if err := c.CheckOrderNo("PDD", "261111-123456789012345"); err != nil {
		t.Errorf("the channel's own pattern is not the one applied: %v", err)
	}

	_, err = Parse("x.yaml", []byte("site: s\nagent: a\ncontract:\n  default_order_no_pattern: \"[a-\"\n"), nil)
	want := "x.yaml:4: contract.default_order_no_pattern: not a valid regular expression: error parsing regexp: missing closing ]: `[a-`"
	if !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
