// Package pki is wedge's small certificate authority for the MQTT transport: it creates a CA,
// issues client certificates to agents (CN "{site}/{agent}") and hub replicas (CN "hub:{name}"), a
// server certificate for the broker, revokes certificates and writes the CRL that mosquitto reads
// (crlfile). It also writes the mosquitto configuration and ACL for a list of sites (mosquitto.go).
//
// The CA lives in one directory, which must be kept private (its key signs every identity):
//
//	ca.crt        the CA certificate (PEM), copied to every PC, hub and the broker
//	ca.key        the CA key (PKCS #8 PEM, mode 0600)
//	crl.pem       the current CRL, rewritten on every revocation
//	index.json    every issued certificate (serial, CN, kind, validity, revocation) and the CRL number
//	issued/       a copy of every issued certificate, named by serial
//
// Keys are ECDSA P-256, which OpenSSL (mosquitto) and Go's crypto/tls support in TLS 1.2 and 1.3.
// The identity mosquitto uses is the certificate's CN (use_identity_as_username), so the CN is the
// ACL user name and, with use_username_as_clientid, the MQTT client id.
//
// A Store is not safe for concurrent use by several processes: it is meant for one operator running
// `wedge certs` on one machine.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"wedge/internal/clock"
	"wedge/sync/wire"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrStore means the CA directory is missing, unreadable, inconsistent or cannot be written.
	ErrStore = errors.New("pki: store")
	// ErrExists means Init found a CA already there, or a file would be overwritten.
	ErrExists = errors.New("pki: already exists")
	// ErrName means a site, agent, hub or host name is not acceptable.
	ErrName = errors.New("pki: invalid name")
	// ErrNotFound means no issued certificate has the given serial or CN.
	ErrNotFound = errors.New("pki: certificate not found")
	// ErrAlreadyRevoked means the certificate was revoked before (nothing changed).
	ErrAlreadyRevoked = errors.New("pki: already revoked")
)

// Kinds of issued certificates.
const (
	KindAgent  = "agent"  // a warehouse PC: client certificate, CN "{site}/{agent}"
	KindHub    = "hub"    // a hub replica: client certificate, CN "hub:{name}"
	KindBroker = "broker" // the MQTT broker: server certificate for its host names
)

// Default validities.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 2 * 365 * 24 * time.Hour
	// backdate moves NotBefore and the CRL's ThisUpdate into the past, so that a broker or client
	// whose clock runs a little behind the CA machine still accepts them (OpenSSL refuses every
	// client while the CRL is "not yet valid").
	backdate = time.Hour
)

// File names inside the CA directory.
const (
	FileCACert = "ca.crt"
	FileCAKey  = "ca.key"
	FileCRL    = "crl.pem"
	FileIndex  = "index.json"
	DirIssued  = "issued"
)

// AgentCN is the certificate CN (and so the broker user name and client id) of an agent.
func AgentCN(site, agent string) string { return site + "/" + agent }

// HubCN is the certificate CN of a hub replica.
func HubCN(name string) string { return "hub:" + name }

// ParseAgentCN splits "{site}/{agent}"; ok is false unless both are wire.ValidName.
func ParseAgentCN(cn string) (site, agent string, ok bool) {
	site, agent, found := strings.Cut(cn, "/")
	if !found || !wire.ValidName(site) || !wire.ValidName(agent) {
		return "", "", false
	}
	return site, agent, true
}

// Options configure Init and Open. The zero value is fine.
type Options struct {
	// Clock is the time source for validity and revocation times (nil = clock.Real).
	Clock clock.Clock
}

// InitOptions configure a new CA.
type InitOptions struct {
	Options
	// Name goes into the CA's CN, "wedge CA {Name}" (default "wedge"), so that several CAs (a test
	// CA, one per company) can be told apart.
	Name string
	// Validity of the CA certificate (default DefaultCAValidity). The CRL is valid as long.
	Validity time.Duration
}

// IssueOptions configure one issued certificate.
type IssueOptions struct {
	// Validity (default DefaultCertValidity).
	Validity time.Duration
}

// Record is one issued certificate in the index.
type Record struct {
	Serial    string    `json:"serial"` // upper-case hex, as `openssl x509 -serial` prints it
	CN        string    `json:"cn"`
	Kind      string    `json:"kind"`
	Hosts     []string  `json:"hosts,omitempty"` // a broker certificate's DNS names and IPs
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the record is revoked.
func (r Record) Revoked() bool { return !r.RevokedAt.IsZero() }

// Issued is a new certificate and its private key. The key exists only here: the store keeps the
// certificate, never the key.
type Issued struct {
	Record
	CertPEM []byte
	KeyPEM  []byte
}

type index struct {
	CRLNumber int64    `json:"crl_number"` // of the last CRL written
	Certs     []Record `json:"certs"`
}

// Store is an open CA directory.
type Store struct {
	dir    string
	clk    clock.Clock
	cert   *x509.Certificate
	certPE []byte
	key    crypto.Signer
	idx    index
}

// Init creates a new CA in dir (created if missing, mode 0700) and writes an empty CRL. It refuses
// a directory that already holds a CA.
func Init(dir string, o InitOptions) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrStore)
	}
	for _, f := range []string{FileCAKey, FileCACert, FileIndex} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("%w: %s already holds a CA (%s)", ErrExists, dir, f)
		}
	}
	if o.Name == "" {
		o.Name = "wedge"
	}
	if strings.ContainsAny(o.Name, "\x00\n") || len(o.Name) > 50 {
		return nil, fmt.Errorf("%w: CA name %q (at most 50 characters, one line)", ErrName, o.Name)
	}
	if o.Validity <= 0 {
		o.Validity = DefaultCAValidity
	}
	clk := clock.Or(o.Clock)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate CA key: %v", ErrStore, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := clk.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wedge CA " + o.Name, Organization: []string{"wedge"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(o.Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs leaf certificates only
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("%w: create CA certificate: %v", ErrStore, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse CA certificate: %v", ErrStore, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, DirIssued), 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	s := &Store{dir: dir, clk: clk, cert: cert, certPE: pemBlock("CERTIFICATE", der), key: key}
	// The key first: a crash after it leaves a directory that Init refuses and Open reports as
	// incomplete, never a certificate without its key.
	if err := writeFileAtomic(filepath.Join(dir, FileCAKey), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, FileCACert), s.certPE, 0o644); err != nil {
		return nil, err
	}
	if _, err := s.WriteCRL(); err != nil { // also writes the index
		return nil, err
	}
	return s, nil
}

// Open opens an existing CA directory and checks that its key matches its certificate.
func Open(dir string, o Options) (*Store, error) {
	certPE, err := os.ReadFile(filepath.Join(dir, FileCACert))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (run `wedge certs init --dir %s` first)", ErrStore, err, dir)
	}
	cert, err := parseCertPEM(certPE)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, filepath.Join(dir, FileCACert), err)
	}
	keyPE, err := os.ReadFile(filepath.Join(dir, FileCAKey))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	key, err := parseKeyPEM(keyPE)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, filepath.Join(dir, FileCAKey), err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: %s does not belong to %s", ErrStore, FileCAKey, FileCACert)
	}
	s := &Store{dir: dir, clk: clock.Or(o.Clock), cert: cert, certPE: certPE, key: key}
	b, err := os.ReadFile(filepath.Join(dir, FileIndex))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := json.Unmarshal(b, &s.idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStore, filepath.Join(dir, FileIndex), err)
	}
	return s, nil
}

// Dir is the CA directory.
func (s *Store) Dir() string { return s.dir }

// CACert is the CA certificate.
func (s *Store) CACert() *x509.Certificate { return s.cert }

// CACertPEM is the CA certificate in PEM, as in ca.crt.
func (s *Store) CACertPEM() []byte { return bytes.Clone(s.certPE) }

// CRLPath is the path of the current CRL.
func (s *Store) CRLPath() string { return filepath.Join(s.dir, FileCRL) }

// Records returns every issued certificate, oldest first.
func (s *Store) Records() []Record { return slices.Clone(s.idx.Certs) }

// IssueAgent issues the client certificate of agent on site.
func (s *Store) IssueAgent(site, agent string, o IssueOptions) (*Issued, error) {
	if !wire.ValidName(site) || !wire.ValidName(agent) {
		return nil, fmt.Errorf("%w: site %q / agent %q (1–64 of A-Z a-z 0-9 _ -)", ErrName, site, agent)
	}
	return s.issue(KindAgent, AgentCN(site, agent), nil, o)
}

// IssueHub issues the client certificate of one hub replica. Each replica gets its own name.
func (s *Store) IssueHub(name string, o IssueOptions) (*Issued, error) {
	if !wire.ValidName(name) {
		return nil, fmt.Errorf("%w: hub name %q (1–64 of A-Z a-z 0-9 _ -)", ErrName, name)
	}
	return s.issue(KindHub, HubCN(name), nil, o)
}

// IssueBroker issues the broker's server certificate for the given DNS names and IP addresses (the
// names agents and hubs put in their broker URL). The first host is also the CN.
func (s *Store) IssueBroker(hosts []string, o IssueOptions) (*Issued, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: the broker certificate needs at least one host name or IP", ErrName)
	}
	for _, h := range hosts {
		if net.ParseIP(h) == nil && !validDNSName(h) {
			return nil, fmt.Errorf("%w: broker host %q is neither an IP address nor a DNS name", ErrName, h)
		}
	}
	return s.issue(KindBroker, hosts[0], hosts, o)
}

func (s *Store) issue(kind, cn string, hosts []string, o IssueOptions) (*Issued, error) {
	if o.Validity <= 0 {
		o.Validity = DefaultCertValidity
	}
	now := s.clk.Now()
	notAfter := now.Add(o.Validity)
	if notAfter.After(s.cert.NotAfter) {
		notAfter = s.cert.NotAfter // a certificate cannot outlive its CA
	}
	if !now.Before(notAfter) {
		return nil, fmt.Errorf("%w: the CA expired on %s; create a new CA", ErrStore, s.cert.NotAfter.Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate key: %v", ErrStore, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"wedge"}, OrganizationalUnit: []string{kind}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if kind == KindBroker {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.cert, &key.PublicKey, s.key)
	if err != nil {
		return nil, fmt.Errorf("%w: sign certificate: %v", ErrStore, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	rec := Record{
		Serial: serialHex(serial), CN: cn, Kind: kind, Hosts: hosts,
		NotBefore: tmpl.NotBefore.UTC().Truncate(time.Second), NotAfter: tmpl.NotAfter.UTC().Truncate(time.Second),
	}
	certPEM := pemBlock("CERTIFICATE", der)
	if err := writeFileAtomic(filepath.Join(s.dir, DirIssued, rec.Serial+".crt"), certPEM, 0o644); err != nil {
		return nil, err
	}
	s.idx.Certs = append(s.idx.Certs, rec)
	if err := s.writeIndex(); err != nil {
		return nil, err
	}
	return &Issued{Record: rec, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Revoke revokes the certificate with the given serial (hex, any case, colons allowed) and rewrites
// the CRL. Revoking it again returns its record and ErrAlreadyRevoked.
func (s *Store) Revoke(serial string) (Record, error) {
	want, err := normSerial(serial)
	if err != nil {
		return Record{}, err
	}
	for i := range s.idx.Certs {
		r := &s.idx.Certs[i]
		if r.Serial != want {
			continue
		}
		if r.Revoked() {
			return *r, fmt.Errorf("%w: %s (%s) on %s", ErrAlreadyRevoked, r.Serial, r.CN, r.RevokedAt.Format(time.RFC3339))
		}
		r.RevokedAt = s.clk.Now().UTC().Truncate(time.Second)
		if err := s.writeIndex(); err != nil {
			r.RevokedAt = time.Time{}
			return Record{}, err
		}
		return *r, s.crlAfterRevoke()
	}
	return Record{}, fmt.Errorf("%w: serial %s", ErrNotFound, want)
}

// RevokeCN revokes every unrevoked certificate issued to cn and rewrites the CRL. It returns the
// records it revoked; ErrNotFound if there was none (ErrAlreadyRevoked if all were revoked before).
func (s *Store) RevokeCN(cn string) ([]Record, error) {
	now := s.clk.Now().UTC().Truncate(time.Second)
	var done []int
	seen := false
	for i := range s.idx.Certs {
		r := &s.idx.Certs[i]
		if r.CN != cn {
			continue
		}
		seen = true
		if !r.Revoked() {
			r.RevokedAt = now
			done = append(done, i)
		}
	}
	switch {
	case !seen:
		return nil, fmt.Errorf("%w: CN %q", ErrNotFound, cn)
	case len(done) == 0:
		return nil, fmt.Errorf("%w: every certificate of %q", ErrAlreadyRevoked, cn)
	}
	if err := s.writeIndex(); err != nil {
		for _, i := range done {
			s.idx.Certs[i].RevokedAt = time.Time{}
		}
		return nil, err
	}
	out := make([]Record, 0, len(done))
	for _, i := range done {
		out = append(out, s.idx.Certs[i])
	}
	return out, s.crlAfterRevoke()
}

// crlAfterRevoke writes the CRL once a revocation is recorded in the index. If that fails the
// revocation stands (a second revoke would only say "already revoked"), so the error says how to
// get crl.pem written.
func (s *Store) crlAfterRevoke() error {
	if _, err := s.WriteCRL(); err != nil {
		return fmt.Errorf("%w (the revocation is recorded in %s, but %s is not updated: run `wedge certs crl`)", err, FileIndex, FileCRL)
	}
	return nil
}

// WriteCRL signs a new CRL (next CRL number) listing every revoked certificate, writes it to
// crl.pem and returns it. It is valid until the CA expires: mosquitto reads a local file, so the
// CRL's freshness is the operator's job (re-run after every revocation, which Revoke does), and an
// expired CRL would make OpenSSL refuse every client.
func (s *Store) WriteCRL() ([]byte, error) {
	now := s.clk.Now()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(s.idx.CRLNumber + 1),
		ThisUpdate: now.Add(-backdate),
		NextUpdate: s.cert.NotAfter,
	}
	for _, r := range s.idx.Certs {
		if !r.Revoked() {
			continue
		}
		sn, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("%w: %s: bad serial %q", ErrStore, FileIndex, r.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: r.RevokedAt})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, s.cert, s.key)
	if err != nil {
		return nil, fmt.Errorf("%w: sign CRL: %v", ErrStore, err)
	}
	out := pemBlock("X509 CRL", der)
	s.idx.CRLNumber++
	// The index first: if the CRL write then fails, the next CRL gets a higher number, never a
	// reused one.
	if err := s.writeIndex(); err != nil {
		s.idx.CRLNumber--
		return nil, err
	}
	if err := writeFileAtomic(s.CRLPath(), out, 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) writeIndex() error {
	if s.idx.Certs == nil {
		s.idx.Certs = []Record{}
	}
	b, err := json.MarshalIndent(s.idx, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	return writeFileAtomic(filepath.Join(s.dir, FileIndex), append(b, '\n'), 0o600)
}

// FileBase is the base name used for an issued certificate's files: "agent.{site}.{agent}",
// "hub.{name}" or "broker". Names never contain '.', so the three forms cannot collide.
func FileBase(r Record) string {
	switch r.Kind {
	case KindAgent:
		site, agent, _ := ParseAgentCN(r.CN)
		return "agent." + site + "." + agent
	case KindHub:
		return "hub." + strings.TrimPrefix(r.CN, "hub:")
	}
	return "broker"
}

// WriteIssued writes the certificate ({base}.crt), its key ({base}.key, mode 0600) and the CA
// certificate (ca.crt) into dir, which is created if missing. It refuses to overwrite a certificate
// or key (ErrExists), so that a rotation never clobbers the files a PC still uses.
func (s *Store) WriteIssued(dir string, is *Issued) (certPath, keyPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrStore, err)
	}
	base := filepath.Join(dir, FileBase(is.Record))
	certPath, keyPath = base+".crt", base+".key"
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%w: %s (move it away or use another --out)", ErrExists, p)
		}
	}
	if err := writeFileAtomic(keyPath, is.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(certPath, is.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, FileCACert), s.certPE, 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// newSerial is a random positive 127-bit serial (RFC 5280 allows up to 20 octets).
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, fmt.Errorf("%w: serial: %v", ErrStore, err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// serialHex is upper-case hex with an even number of digits, as OpenSSL prints serials.
func serialHex(n *big.Int) string { return strings.ToUpper(hex.EncodeToString(n.Bytes())) }

// normSerial accepts a serial as people copy it: any case, colons or spaces, an optional 0x.
func normSerial(s string) (string, error) {
	t := strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	t = strings.TrimPrefix(t, "0X")
	n, ok := new(big.Int).SetString(t, 16)
	if t == "" || !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("%w: serial %q is not a hex number", ErrNotFound, s)
	}
	return serialHex(n), nil
}

func validDNSName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: encode key: %v", ErrStore, err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	sg, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return sg, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// writeFileAtomic writes path through a temporary file in the same directory, synced and renamed,
// so a crash leaves the old content or the new, never half of either.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrStore, path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrStore, path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %v", ErrStore, path, err)
	}
	return nil
}
