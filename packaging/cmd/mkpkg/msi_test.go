package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestMSIVersion(t *testing.T) {
	for in, want := range map[string]string{"1.4.2+5.gabc": "1.4.2", "0.0.0+git.abc": "0.0.0", "2.0": "2.0.0", "3": "3.0.0", "1.2.3.4": "1.2.3", "2.0.0~rc1": "2.0.0"} {
		if got := MSIVersion(in); got != want {
			t.Errorf("MSIVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// writePEM writes one PEM block.
func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// signingCA makes a throwaway CA and a code-signing certificate it issued, in dir: ca.pem,
// cert.pem, key.pem.
func signingCA(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wedge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "wedge test signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kDER, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", kDER)
}

// The Windows build: wedge.exe cross-built with cgo through MinGW-w64, packed by wixl, both
// Authenticode-signed by osslsigncode and verified against the signing CA, and not against another.
func TestWindowsMSISigned(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds wedge.exe with cgo; skipped with -short")
	}
	for _, tl := range []string{"x86_64-w64-mingw32-gcc", "wixl", "osslsigncode", "msiinfo", "msiextract"} {
		needTool(t, tl)
	}
	dir := t.TempDir()
	keys, other := filepath.Join(dir, "keys"), filepath.Join(dir, "other")
	os.Mkdir(keys, 0o700)
	os.Mkdir(other, 0o700)
	signingCA(t, keys)
	signingCA(t, other)
	msi, err := BuildMSI(MSIOptions{Version: testVersion, Root: root, OutDir: filepath.Join(dir, "dist"),
		Cert: filepath.Join(keys, "cert.pem"), Key: filepath.Join(keys, "key.pem"), CAFile: filepath.Join(keys, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(msi) != "wedge_1.4.2+5.gdeadbee_amd64.msi" {
		t.Errorf("msi %s", msi)
	}
	wantLines(t, "msiinfo File", runTool(t, "msiinfo", "export", msi, "File"), "wedge.exe", "wedge.example.yaml", "README.md")
	wantLines(t, "msiinfo Property", runTool(t, "msiinfo", "export", msi, "Property"), "ProductVersion\t1.4.2", "UpgradeCode\t{6B1E6F0C-3D3A-4C1E-9B8E-5E2D0A7F4C11}")
	wantLines(t, "msiinfo ServiceControl", runTool(t, "msiinfo", "export", msi, "ServiceControl"), "WedgeSvc\twedge")
	runTool(t, "osslsigncode", "verify", "-CAfile", filepath.Join(keys, "ca.pem"), "-in", msi)
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(other, "ca.pem"), "-in", msi).CombinedOutput(); err == nil {
		t.Fatalf("verified against a CA that did not sign it:\n%s", out)
	}
	// The exe inside is the signed one.
	x := filepath.Join(dir, "x")
	runTool(t, "msiextract", "-C", x, msi)
	exes, _ := filepath.Glob(filepath.Join(x, "wedge", "wedge.exe"))
	if len(exes) != 1 {
		out, _ := exec.Command("find", x).Output()
		t.Fatalf("wedge.exe in the MSI: %v\n%s", exes, out)
	}
	runTool(t, "osslsigncode", "verify", "-CAfile", filepath.Join(keys, "ca.pem"), "-in", exes[0])
}
