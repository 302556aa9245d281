package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"wedge/internal/pki"
)

const certsUsage = `用法 Usage:
  wedge certs init --dir CA_DIR [--name NAME] [--days N]
      新建 CA create the CA (ca.crt, ca.key 0600, crl.pem, index.json, issued/)
  wedge certs issue --dir CA_DIR (--agent SITE/AGENT | --hub NAME | --broker HOST[,HOST...]) [--out DIR] [--days N]
      签发证书和私钥到 DIR（默认当前目录） issue a certificate and key into DIR (default: current directory)
  wedge certs revoke --dir CA_DIR (--serial SERIAL | --cn CN)
      吊销并重写 crl.pem revoke and rewrite crl.pem
  wedge certs crl --dir CA_DIR
      重新签发 crl.pem re-sign crl.pem
  wedge certs list --dir CA_DIR
      列出已签发的证书 list issued certificates
  wedge certs mosquitto --dir CA_DIR --sites SITES.yaml --out DIR [--port 8883] [--bind ADDR] [--broker-dir /etc/mosquitto/wedge]
      生成 mosquitto.conf、wedge.acl，并复制 ca.crt、crl.pem write mosquitto.conf and wedge.acl, copy ca.crt and crl.pem

步骤见 Walkthrough: docs/SECURITY.md
`

func cmdCerts(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, certsUsage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "init":
		return certsInit(rest, stdout, stderr)
	case "issue":
		return certsIssue(rest, stdout, stderr)
	case "revoke":
		return certsRevoke(rest, stdout, stderr)
	case "crl":
		return certsCRL(rest, stdout, stderr)
	case "list":
		return certsList(rest, stdout, stderr)
	case "mosquitto":
		return certsMosquitto(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, certsUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "wedge certs: 未知子命令 unknown subcommand %q\n\n%s", sub, certsUsage)
	return exitUsage
}

// certsFlags is a flag set with the --dir every subcommand needs.
func certsFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("wedge certs "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "CA 目录 CA directory (required)")
	return fs, dir
}

// parseCertsFlags parses and checks that --dir is set and no positional arguments remain.
func parseCertsFlags(fs *flag.FlagSet, dir *string, args []string, stderr io.Writer) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: 多余的参数 unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "%s: 需要 --dir required: --dir CA_DIR\n", fs.Name())
		return false
	}
	return true
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func openCA(name, dir string, stderr io.Writer) (*pki.Store, int) {
	s, err := pki.Open(dir, pki.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "wedge certs %s: 无法打开 CA cannot open the CA: %v\n", name, err)
		return nil, exitUsage
	}
	return s, exitOK
}

func certsInit(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("init", stderr)
	name := fs.String("name", "wedge", "CA 名称（证书 CN 为 \"wedge CA NAME\"） CA name (its CN is \"wedge CA NAME\")")
	nd := fs.Int("days", 3650, "CA 有效天数 CA validity in days")
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	if *nd <= 0 {
		fmt.Fprintln(stderr, "wedge certs init: --days 必须大于 0 must be > 0")
		return exitUsage
	}
	s, err := pki.Init(*dir, pki.InitOptions{Name: *name, Validity: days(*nd)})
	if err != nil {
		fmt.Fprintf(stderr, "wedge certs init: 失败 failed: %v\n", err)
		if errors.Is(err, pki.ErrExists) || errors.Is(err, pki.ErrName) {
			return exitUsage
		}
		return exitFailure
	}
	c := s.CACert()
	fmt.Fprintf(stdout, "已创建 CA created: %s\n  %s  有效期至 valid until %s\n", *dir, c.Subject.CommonName, c.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(stdout, "  %s 是 CA 私钥：只留在这台机器上并备份 is the CA key: keep it on this machine only, and back it up\n",
		filepath.Join(*dir, pki.FileCAKey))
	return exitOK
}

func certsIssue(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("issue", stderr)
	agent := fs.String("agent", "", "代理身份 agent identity SITE/AGENT (as in its config: site, agent)")
	hub := fs.String("hub", "", "中心副本名 hub replica name (each replica its own)")
	broker := fs.String("broker", "", "MQTT 服务器的主机名/IP，逗号分隔 the broker's host names/IPs, comma-separated")
	out := fs.String("out", ".", "输出目录 output directory for CERT, KEY and ca.crt")
	nd := fs.Int("days", 730, "有效天数 validity in days (capped at the CA's)")
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	n := 0
	for _, v := range []string{*agent, *hub, *broker} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		fmt.Fprintln(stderr, "wedge certs issue: 需要且只能有一个 exactly one of --agent SITE/AGENT, --hub NAME, --broker HOST[,HOST...]")
		return exitUsage
	}
	if *nd <= 0 {
		fmt.Fprintln(stderr, "wedge certs issue: --days 必须大于 0 must be > 0")
		return exitUsage
	}
	var issue func(*pki.Store, pki.IssueOptions) (*pki.Issued, error)
	var want pki.Record // kind and CN, to check --out before signing anything
	switch {
	case *agent != "":
		site, name, ok := strings.Cut(*agent, "/")
		if !ok {
			fmt.Fprintf(stderr, "wedge certs issue: --agent %q: 格式 want SITE/AGENT\n", *agent)
			return exitUsage
		}
		want = pki.Record{Kind: pki.KindAgent, CN: pki.AgentCN(site, name)}
		issue = func(s *pki.Store, o pki.IssueOptions) (*pki.Issued, error) { return s.IssueAgent(site, name, o) }
	case *hub != "":
		want = pki.Record{Kind: pki.KindHub, CN: pki.HubCN(*hub)}
		issue = func(s *pki.Store, o pki.IssueOptions) (*pki.Issued, error) { return s.IssueHub(*hub, o) }
	default:
		var hosts []string
		for _, h := range strings.Split(*broker, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hosts = append(hosts, h)
			}
		}
		want = pki.Record{Kind: pki.KindBroker}
		issue = func(s *pki.Store, o pki.IssueOptions) (*pki.Issued, error) { return s.IssueBroker(hosts, o) }
	}
	for _, ext := range []string{".crt", ".key"} {
		if p := filepath.Join(*out, pki.FileBase(want)+ext); fileExists(p) {
			fmt.Fprintf(stderr, "wedge certs issue: %s 已存在，不覆盖 exists, not overwritten (move it away or use another --out)\n", p)
			return exitUsage
		}
	}
	s, code := openCA("issue", *dir, stderr)
	if s == nil {
		return code
	}
	is, err := issue(s, pki.IssueOptions{Validity: days(*nd)})
	if err != nil {
		fmt.Fprintf(stderr, "wedge certs issue: 失败 failed: %v\n", err)
		if errors.Is(err, pki.ErrName) {
			return exitUsage
		}
		return exitFailure
	}
	certPath, keyPath, err := s.WriteIssued(*out, is)
	if err != nil {
		// The certificate is signed and indexed but its key is gone: revoke it, so that the index
		// holds no certificate nobody can use, and say so.
		_, rerr := s.Revoke(is.Serial)
		fmt.Fprintf(stderr, "wedge certs issue: 无法写出证书 cannot write the certificate: %v\n  已吊销 revoked the unusable certificate %s (%v)\n", err, is.Serial, rerr)
		if errors.Is(err, pki.ErrExists) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "已签发 issued %s %q serial %s, 有效期至 valid until %s\n  %s\n  %s (私钥 private key, 0600)\n  %s\n",
		is.Kind, is.CN, is.Serial, is.NotAfter.Format(time.DateOnly), certPath, keyPath, filepath.Join(*out, pki.FileCACert))
	switch is.Kind {
	case pki.KindAgent:
		site, name, _ := pki.ParseAgentCN(is.CN)
		fmt.Fprintf(stdout, `这台电脑的配置 config of this PC (site and agent must be exactly these):
  site: %s
  agent: %s
  broker:
    url: "ssl://BROKER:%d"
    ca: %s
    cert: %s
    key: %s
并把它加入 sites 文件 and list it in the sites file, then: wedge certs mosquitto
`, site, name, pki.DefaultBrokerPort, pki.FileCACert, filepath.Base(certPath), filepath.Base(keyPath))
	case pki.KindHub:
		fmt.Fprintf(stdout, "中心参数 hub flags: wedge hub --broker ssl://BROKER:%d --ca %s --cert %s --key %s\n",
			pki.DefaultBrokerPort, pki.FileCACert, filepath.Base(certPath), filepath.Base(keyPath))
	case pki.KindBroker:
		fmt.Fprintf(stdout, "复制到 copy to the broker host as %s/%s and %s (owner root, group mosquitto, key mode 0640)\n",
			pki.DefaultBrokerDir, pki.FileBrokerCert, pki.FileBrokerKey)
	}
	return exitOK
}

func certsRevoke(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("revoke", stderr)
	serial := fs.String("serial", "", "证书序列号 certificate serial (hex, as `wedge certs list` shows)")
	cn := fs.String("cn", "", "吊销此身份的所有证书 revoke every certificate of this identity (SITE/AGENT or hub:NAME)")
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	if (*serial == "") == (*cn == "") {
		fmt.Fprintln(stderr, "wedge certs revoke: 需要且只能有一个 exactly one of --serial SERIAL, --cn CN")
		return exitUsage
	}
	s, code := openCA("revoke", *dir, stderr)
	if s == nil {
		return code
	}
	var recs []pki.Record
	var err error
	if *serial != "" {
		var r pki.Record
		r, err = s.Revoke(*serial)
		recs = []pki.Record{r}
	} else {
		recs, err = s.RevokeCN(*cn)
	}
	switch {
	case errors.Is(err, pki.ErrAlreadyRevoked):
		fmt.Fprintf(stdout, "已经吊销过，未改变 already revoked, nothing changed: %v\n", err)
		return exitOK
	case errors.Is(err, pki.ErrNotFound):
		fmt.Fprintf(stderr, "wedge certs revoke: 找不到 not found: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "wedge certs revoke: 失败 failed: %v\n", err)
		return exitFailure
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "已吊销 revoked %s %q serial %s\n", r.Kind, r.CN, r.Serial)
	}
	fmt.Fprintf(stdout, `下一步 next:
  1. 把 %s 复制到代理服务器 copy it to the broker as %s/%s
  2. 从 sites 文件删除该身份并重新生成 remove the identity from the sites file and run wedge certs mosquitto again
  3. systemctl reload mosquitto（新连接被拒绝，已连接的失去所有主题 new connections are refused, a live one loses every topic）
`, s.CRLPath(), pki.DefaultBrokerDir, pki.FileCRL)
	return exitOK
}

func certsCRL(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("crl", stderr)
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	s, code := openCA("crl", *dir, stderr)
	if s == nil {
		return code
	}
	if _, err := s.WriteCRL(); err != nil {
		fmt.Fprintf(stderr, "wedge certs crl: 失败 failed: %v\n", err)
		return exitFailure
	}
	n := 0
	for _, r := range s.Records() {
		if r.Revoked() {
			n++
		}
	}
	fmt.Fprintf(stdout, "已写出 wrote %s (%d 个已吊销 revoked)\n", s.CRLPath(), n)
	return exitOK
}

func certsList(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("list", stderr)
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	s, code := openCA("list", *dir, stderr)
	if s == nil {
		return code
	}
	now := time.Now()
	fmt.Fprintf(stdout, "%-34s %-7s %-30s %-10s %s\n", "SERIAL", "KIND", "CN", "NOT AFTER", "STATE")
	for _, r := range s.Records() {
		state := "valid"
		switch {
		case r.Revoked():
			state = "revoked " + r.RevokedAt.Format(time.DateOnly)
		case now.After(r.NotAfter):
			state = "expired"
		}
		fmt.Fprintf(stdout, "%-34s %-7s %-30s %-10s %s\n", r.Serial, r.Kind, r.CN, r.NotAfter.Format(time.DateOnly), state)
	}
	return exitOK
}

func certsMosquitto(args []string, stdout, stderr io.Writer) int {
	fs, dir := certsFlags("mosquitto", stderr)
	sitesFile := fs.String("sites", "", "sites 文件 sites file (hubs and each site's agents; required)")
	out := fs.String("out", "", "输出目录 output directory (required)")
	port := fs.Int("port", pki.DefaultBrokerPort, "TLS 监听端口 TLS listener port")
	bind := fs.String("bind", "", "监听地址 listen address (default: every interface)")
	brokerDir := fs.String("broker-dir", pki.DefaultBrokerDir, "代理服务器上存放这些文件的目录 where these files live on the broker host")
	if !parseCertsFlags(fs, dir, args, stderr) {
		return exitUsage
	}
	if *sitesFile == "" || *out == "" {
		fmt.Fprintln(stderr, "wedge certs mosquitto: 需要 required: --sites FILE --out DIR")
		return exitUsage
	}
	if *port <= 0 || *port > 65535 {
		fmt.Fprintf(stderr, "wedge certs mosquitto: --port %d 无效 invalid\n", *port)
		return exitUsage
	}
	s, code := openCA("mosquitto", *dir, stderr)
	if s == nil {
		return code
	}
	sites, err := pki.LoadSites(*sitesFile)
	if err != nil {
		fmt.Fprintf(stderr, "wedge certs mosquitto: sites 文件无效 invalid sites file: %v\n", err)
		return exitUsage
	}
	crl, err := os.ReadFile(s.CRLPath())
	if err != nil {
		fmt.Fprintf(stderr, "wedge certs mosquitto: %v (run wedge certs crl)\n", err)
		return exitFailure
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "wedge certs mosquitto: %v\n", err)
		return exitFailure
	}
	files := []struct {
		name string
		data []byte
	}{
		{pki.FileMosquittoCfg, pki.MosquittoConf(pki.ConfParams{Port: *port, Bind: *bind, Dir: *brokerDir})},
		{pki.FileACL, pki.ACL(sites)},
		{pki.FileCACert, s.CACertPEM()},
		{pki.FileCRL, crl},
	}
	for _, f := range files {
		p := filepath.Join(*out, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			fmt.Fprintf(stderr, "wedge certs mosquitto: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "已写出 wrote %s\n", p)
	}
	for _, w := range crossCheck(s.Records(), sites, time.Now()) {
		fmt.Fprintf(stderr, "注意 note: %s\n", w)
	}
	fmt.Fprintf(stdout, `下一步 next: 复制到代理服务器 copy to the broker host:
  %s/{%s,%s,%s} 和 and broker.crt, broker.key (wedge certs issue --broker HOST)
  %s -> /etc/mosquitto/conf.d/wedge.conf
然后 then: systemctl restart mosquitto（首次 first time）或 or systemctl reload mosquitto（ACL、CRL 变更 changes）
`, *brokerDir, pki.FileACL, pki.FileCACert, pki.FileCRL, pki.FileMosquittoCfg)
	return exitOK
}

// crossCheck compares the index with the sites file and returns what an operator should know:
// listed identities without a usable certificate, and usable certificates of unlisted identities
// (they connect but can use no topic), and a missing broker certificate.
func crossCheck(recs []pki.Record, sites *pki.Sites, now time.Time) []string {
	usable := map[string]bool{}
	broker := false
	for _, r := range recs {
		if r.Revoked() || now.After(r.NotAfter) {
			continue
		}
		if r.Kind == pki.KindBroker {
			broker = true
			continue
		}
		usable[r.CN] = true
	}
	listed := map[string]bool{}
	var notes []string
	for _, h := range sites.Hubs {
		listed[pki.HubCN(h)] = true
	}
	for site, agents := range sites.Sites {
		for _, a := range agents {
			listed[pki.AgentCN(site, a)] = true
		}
	}
	for _, cn := range sortedKeys(listed) {
		if !usable[cn] {
			notes = append(notes, fmt.Sprintf("%q 在 sites 文件中但没有有效证书 is listed but has no valid certificate (wedge certs issue)", cn))
		}
	}
	for _, cn := range sortedKeys(usable) {
		if !listed[cn] {
			notes = append(notes, fmt.Sprintf("%q 有有效证书但不在 sites 文件中：能连接但不能使用任何主题 has a valid certificate but is not listed: it can connect and use no topic (revoke it, or list it)", cn))
		}
	}
	if !broker {
		notes = append(notes, "还没有有效的代理服务器证书 no valid broker certificate yet: wedge certs issue --broker HOST --out DIR")
	}
	return notes
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
