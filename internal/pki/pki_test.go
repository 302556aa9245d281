package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"wedge/internal/clock"
	"wedge/internal/yamlpath"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Init(filepath.Join(t.TempDir(), "ca"), InitOptions{Name: "unit"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInitWritesAPrivateCAAndRefusesASecondOne(t *testing.T) {
	s := newStore(t)
	for _, f := range []string{FileCACert, FileCAKey, FileCRL, FileIndex, DirIssued} {
		if _, err := os.Stat(filepath.Join(s.Dir(), f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(s.Dir(), FileCAKey))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("ca.key mode %v (%v), want 0600", fi.Mode(), err)
		}
	}
	c := s.CACert()
	if !c.IsCA || c.Subject.CommonName != "wedge CA unit" || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("CA certificate: IsCA %v CN %q key usage %v", c.IsCA, c.Subject.CommonName, c.KeyUsage)
	}
	if _, err := Init(s.Dir(), InitOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
}

func TestOpenChecksTheKeyBelongsToTheCertificate(t *testing.T) {
	a, b := newStore(t), newStore(t)
	if _, err := Open(a.Dir(), Options{}); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(b.Dir(), FileCAKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.Dir(), FileCAKey), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(a.Dir(), Options{}); !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Open with another CA's key: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none"), Options{}); !errors.Is(err, ErrStore) {
		t.Fatalf("Open of a missing dir: %v", err)
	}
}

func TestIssueNamesAndKinds(t *testing.T) {
	s := newStore(t)
	for _, bad := range [][2]string{{"", "a"}, {"s", ""}, {"s/x", "a"}, {"s", "a:b"}, {"s", "a+"}, {"s", "#"}, {strings.Repeat("x", 65), "a"}} {
		if _, err := s.IssueAgent(bad[0], bad[1], IssueOptions{}); !errors.Is(err, ErrName) {
			t.Errorf("IssueAgent(%q, %q): %v, want ErrName", bad[0], bad[1], err)
		}
	}
	if _, err := s.IssueHub("hub/1", IssueOptions{}); !errors.Is(err, ErrName) {
		t.Errorf("IssueHub(hub/1): %v", err)
	}
	for _, h := range []string{"", "a b", "-x.example", "x..example"} {
		if _, err := s.IssueBroker([]string{h}, IssueOptions{}); !errors.Is(err, ErrName) {
			t.Errorf("IssueBroker(%q): %v", h, err)
		}
	}

	ag, err := s.IssueAgent("sh01", "pack_02", IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := s.IssueHub("hub-a", IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	br, err := s.IssueBroker([]string{"mq.example.com", "10.0.0.5"}, IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		is         *Issued
		cn, kind   string
		eku        x509.ExtKeyUsage
		base       string
		dns, ipstr string
	}{
		{ag, "sh01/pack_02", KindAgent, x509.ExtKeyUsageClientAuth, "agent.sh01.pack_02", "", ""},
		{hub, "hub:hub-a", KindHub, x509.ExtKeyUsageClientAuth, "hub.hub-a", "", ""},
		{br, "mq.example.com", KindBroker, x509.ExtKeyUsageServerAuth, "broker", "mq.example.com", "10.0.0.5"},
	} {
		c := parseCert(t, tc.is.CertPEM)
		if c.Subject.CommonName != tc.cn || tc.is.CN != tc.cn || tc.is.Kind != tc.kind {
			t.Errorf("CN %q / record %q %q, want %q %q", c.Subject.CommonName, tc.is.CN, tc.is.Kind, tc.cn, tc.kind)
		}
		if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != tc.eku || c.IsCA {
			t.Errorf("%s: EKU %v IsCA %v", tc.cn, c.ExtKeyUsage, c.IsCA)
		}
		if got := FileBase(tc.is.Record); got != tc.base {
			t.Errorf("FileBase(%s) = %q, want %q", tc.cn, got, tc.base)
		}
		if tc.dns != "" && (len(c.DNSNames) != 1 || c.DNSNames[0] != tc.dns || len(c.IPAddresses) != 1 || c.IPAddresses[0].String() != tc.ipstr) {
			t.Errorf("broker SANs %v %v", c.DNSNames, c.IPAddresses)
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), DirIssued, tc.is.Serial+".crt")); err != nil {
			t.Errorf("issued copy: %v", err)
		}
		if strings.Contains(string(tc.is.KeyPEM), "BEGIN PRIVATE KEY") == false {
			t.Errorf("key is not PKCS #8 PEM")
		}
	}
	// The index survives a reopen, with the serials OpenSSL prints.
	s2, err := Open(s.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := s2.Records()
	if len(recs) != 3 || recs[0].Serial != ag.Serial || recs[2].Hosts[1] != "10.0.0.5" {
		t.Fatalf("records after reopen: %+v", recs)
	}
	if want := strings.ToUpper(parseCert(t, ag.CertPEM).SerialNumber.Text(16)); strings.TrimLeft(ag.Serial, "0") != want {
		t.Errorf("serial %q, certificate has %q", ag.Serial, want)
	}
}

func TestValidityIsCappedByTheCA(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Init(filepath.Join(t.TempDir(), "ca"), InitOptions{Options: Options{Clock: clock.NewFake(now)}, Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	is, err := s.IssueHub("h", IssueOptions{Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !is.NotAfter.Equal(s.CACert().NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", is.NotAfter, s.CACert().NotAfter)
	}
	if !is.NotBefore.Equal(now.Add(-backdate)) {
		t.Errorf("NotBefore %v, want %v", is.NotBefore, now.Add(-backdate))
	}
	late, err := Open(s.Dir(), Options{Clock: clock.NewFake(now.Add(31 * 24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.IssueHub("h2", IssueOptions{}); !errors.Is(err, ErrStore) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("issue after the CA expired: %v", err)
	}
}

func TestRevokeBySerialAndCN(t *testing.T) {
	s := newStore(t)
	a1, _ := s.IssueAgent("s", "a1", IssueOptions{})
	a1b, _ := s.IssueAgent("s", "a1", IssueOptions{}) // a rotation: two certificates, one CN
	a2, _ := s.IssueAgent("s", "a2", IssueOptions{})
	crlNo := func() int64 {
		b, err := os.ReadFile(s.CRLPath())
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		crl, err := x509.ParseRevocationList(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(s.CACert()); err != nil {
			t.Fatal(err)
		}
		if !crl.NextUpdate.Equal(s.CACert().NotAfter) {
			t.Errorf("CRL NextUpdate %v, want the CA's NotAfter", crl.NextUpdate)
		}
		return crl.Number.Int64()
	}
	n0 := crlNo()

	// Serials as people paste them: lower case, with colons.
	var colons []string
	for i := 0; i < len(a2.Serial); i += 2 {
		colons = append(colons, strings.ToLower(a2.Serial[i:i+2]))
	}
	r, err := s.Revoke(strings.Join(colons, ":"))
	if err != nil || r.Serial != a2.Serial || !r.Revoked() {
		t.Fatalf("Revoke: %+v %v", r, err)
	}
	if _, err := s.Revoke(a2.Serial); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second Revoke: %v", err)
	}
	if _, err := s.Revoke("ABCDEF"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke unknown: %v", err)
	}
	if _, err := s.Revoke("not hex"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke garbage: %v", err)
	}
	recs, err := s.RevokeCN("s/a1")
	if err != nil || len(recs) != 2 || recs[0].Serial != a1.Serial || recs[1].Serial != a1b.Serial {
		t.Fatalf("RevokeCN: %+v %v", recs, err)
	}
	if _, err := s.RevokeCN("s/a1"); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("RevokeCN again: %v", err)
	}
	if _, err := s.RevokeCN("s/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeCN unknown: %v", err)
	}
	if n := crlNo(); n != n0+2 {
		t.Errorf("CRL number %d, want %d (one per revocation)", n, n0+2)
	}
	s2, err := Open(s.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s2.Records() {
		if !r.Revoked() {
			t.Errorf("%s not revoked after reopen", r.CN)
		}
	}
	if _, err := s2.WriteCRL(); err != nil {
		t.Fatal(err)
	}
	if n := crlNo(); n != n0+3 {
		t.Errorf("CRL number after reopen %d, want %d", n, n0+3)
	}
}

func TestWriteIssuedNeverOverwrites(t *testing.T) {
	s := newStore(t)
	out := filepath.Join(t.TempDir(), "out")
	is, _ := s.IssueAgent("s", "a", IssueOptions{})
	cert, key, err := s.WriteIssued(out, is)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(cert) != "agent.s.a.crt" || filepath.Base(key) != "agent.s.a.key" {
		t.Errorf("files %s %s", cert, key)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key mode %v %v", fi.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, FileCACert)); string(b) != string(s.CACertPEM()) {
		t.Error("ca.crt not written next to the certificate")
	}
	is2, _ := s.IssueAgent("s", "a", IssueOptions{})
	if _, _, err := s.WriteIssued(out, is2); !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteIssued: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(key); string(b) != string(is.KeyPEM) {
		t.Fatal("the first key was overwritten")
	}
}

func TestParseSitesReportsFileLineField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"sites:\n  s: [a]\n", "sites.yaml:1: hubs: at least one hub"},
		{"hubs: [h, h]\nsites:\n  s: [a]\n", `sites.yaml:1: hubs[1]: hub "h" is listed twice`},
		{"hubs: [h]\nsites:\n  s: [a, a]\n", `sites.yaml:3: sites.s[1]: agent "a" is listed twice`},
		{"hubs: [h]\nsites:\n  s: [a]\n  t/x: [a]\n", `sites.yaml:4: sites.t/x: "t/x" is not a valid site name`},
		{"hubs: [h]\nsites:\n  s:\n    - a\n    - b+c\n", `sites.yaml:5: sites.s[1]: "b+c" is not a valid agent name`},
		{"hubs: [h]\nsites:\n  s: []\n", "sites.yaml:3: sites.s: a site needs at least one agent"},
		{"hubs: [h]\n", "sites.yaml:1: sites: at least one site"},
		{"hubs: [h]\nsites:\n  s: [a]\nagents: [x]\n", "field agents not found"},
		{"hubs: [h\n", "sites.yaml: "},
	} {
		_, err := ParseSites("sites.yaml", []byte(tc.yaml))
		var ye *yamlpath.Error
		if !errors.Is(err, ErrSites) || !errors.As(err, &ye) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrSites containing %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := LoadSites(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrSites) {
		t.Errorf("missing file: %v", err)
	}
}

func TestACLGrantsEachIdentityOnlyItsTopics(t *testing.T) {
	s, err := ParseSites("x", []byte("hubs: [h1, h2]\nsites:\n  s2: [b]\n  s1: [a]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(ACL(s))
	want := `user hub:h1
topic read wedge/v1/+/+/events
topic read wedge/v1/+/+/catchup
topic read wedge/v1/+/+/status
topic write wedge/v1/+/orders
topic write wedge/v1/+/+/ack
topic write wedge/v1/+/+/direct
topic write wedge/v1/+/+/command

# hub replica h2
user hub:h2
`
	if !strings.Contains(got, want) {
		t.Errorf("hub block missing:\n%s", got)
	}
	want = `# agent a of site s1
user s1/a
topic write wedge/v1/s1/a/events
topic write wedge/v1/s1/a/status
topic write wedge/v1/s1/a/catchup
topic read wedge/v1/s1/a/ack
topic read wedge/v1/s1/a/command
topic read wedge/v1/s1/a/direct
topic read wedge/v1/s1/orders

# agent b of site s2
user s2/b
`
	if !strings.Contains(got, want) {
		t.Errorf("agent blocks missing or not sorted by site:\n%s", got)
	}
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(line, "pattern") || strings.HasPrefix(line, "topic") && strings.Contains(line, "readwrite") {
			t.Errorf("unexpected rule %q", line)
		}
	}
}

// The example files under packaging/mosquitto are what the generator writes, so they cannot drift.
func TestPackagingExamplesAreGenerated(t *testing.T) {
	dir := filepath.Join("..", "..", "packaging", "mosquitto")
	s, err := LoadSites(filepath.Join(dir, "sites.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{
		"wedge.acl":      ACL(s),
		"mosquitto.conf": MosquittoConf(ConfParams{}),
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("packaging/mosquitto/%s differs from the generator's output; regenerate it (see packaging/mosquitto/README.md)", name)
		}
	}
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	c, err := parseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
