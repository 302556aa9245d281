package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"wedge/agent/config"
	"wedge/agent/journal"
)

// cmdJournalExport is `wedge journal export`: entries as JSON lines, for auditors.
func cmdJournalExport(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "代理数据目录或日志文件（含备份） the agent's data_dir or a journal file (a backup too)")
	sinceArg := fs.String("since", "", "从此序号之后，或此时间起 (RFC 3339) entries after this seq, or from this time (RFC 3339)")
	out := fs.String("out", "", "写入文件（默认标准输出） write to this file (default: stdout)")
	if err := fs.Parse(args); err != nil || *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal export --data DIR|FILE [--since SEQ|TIME] [--out FILE]")
		return exitUsage
	}
	since, err := parseSince(*sinceArg)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal export: --since: %v\n", err)
		return exitUsage
	}
	path, err := journalPath(*data)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal export: 无法打开 cannot open %s: %v\n", *data, err)
		return exitUsage
	}
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			fmt.Fprintf(stderr, "wedge journal export: %v\n", err)
			return exitUsage
		}
		w = f
	}
	n, err := journal.Export(path, since, w)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal export: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "导出 exported %d 条 entries\n", n)
	return exitOK
}

// parseSince reads --since: a seq (entries after it) or an RFC 3339 time (entries at or after it).
func parseSince(s string) (journal.Since, error) {
	if s == "" {
		return journal.Since{}, nil
	}
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
		return journal.Since{Seq: seq}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return journal.Since{}, fmt.Errorf("既不是序号也不是 RFC 3339 时间 neither a seq nor an RFC 3339 time: %q", s)
	}
	return journal.Since{Time: t}, nil
}

// cmdJournalBackup is `wedge journal backup`: a consistent copy of the running agent's journal
// through its API (the API token from the config or --token), verified before it is kept.
func cmdJournalBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "备份文件（不得已存在） the backup file (must not exist)")
	cfgPath := fs.String("config", defaultConfigPath, "代理配置：API 地址和令牌 the agent's config: API address and token")
	api := fs.String("api", "", "代理 API 地址（默认取自配置） the agent's API URL (default: from the config)")
	token := fs.String("token", "", "API 令牌（默认取自配置或 WEDGE_API_TOKEN） the API token (default: the config's, or $WEDGE_API_TOKEN)")
	if err := fs.Parse(args); err != nil || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal backup --to FILE [--config FILE] [--api URL] [--token T]")
		return exitUsage
	}
	base, tok, err := apiTarget(*cfgPath, *api, *token)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal backup: %v\n", err)
		return exitUsage
	}
	if err := fetchBackup(ctx, base, tok, *to); err != nil {
		fmt.Fprintf(stderr, "wedge journal backup: %v\n", err)
		return exitFailure
	}
	rep, err := journal.Verify(*to)
	if err != nil || !rep.OK {
		fmt.Fprintf(stderr, "wedge journal backup: 备份未通过校验，已删除 the backup does not verify and was removed: %v %s\n", err, rep)
		os.Remove(*to)
		return exitFailure
	}
	fmt.Fprintf(stdout, "备份 backup %s: %s\n", *to, rep)
	return exitOK
}

// apiTarget is the agent API's base URL and token: from the flags, else from the config file.
func apiTarget(cfgPath, api, token string) (string, string, error) {
	if token == "" {
		token = os.Getenv("WEDGE_API_TOKEN")
	}
	if api != "" && token != "" {
		return api, token, nil
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return "", "", fmt.Errorf("需要 --api 和 --token，或可读的配置 need --api and --token, or a readable config: %w", err)
	}
	if token == "" {
		token = cfg.API.Token
	}
	if token == "" {
		return "", "", errors.New("配置中没有 api.token the config has no api.token: give --token")
	}
	if api == "" {
		if api, err = apiBase(cfg.API.Listen); err != nil {
			return "", "", err
		}
	}
	return api, token, nil
}

// apiBase is the URL of the agent's API on this machine for its api.listen address (a wildcard
// address is reached on 127.0.0.1).
func apiBase(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("api.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// fetchBackup downloads the backup to a temporary file beside to, syncs it and renames it.
func fetchBackup(ctx context.Context, base, token, to string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/journal/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("代理未运行？ is the agent running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%s 已存在 exists already", to)
	}
	tmp := to + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body) // a body shorter than Content-Length is an error here
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, to)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(to))
}

// cmdJournalRestore is `wedge journal restore`: puts a verified backup in place of the journal of
// a stopped agent; the journal it replaces is kept aside.
func cmdJournalRestore(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "备份文件 the backup file")
	data := fs.String("data", "", "代理数据目录 the agent's data_dir")
	if err := fs.Parse(args); err != nil || *from == "" || *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal restore --from FILE --data DIR")
		return exitUsage
	}
	rep, err := journal.Verify(*from)
	if err != nil || !rep.OK {
		fmt.Fprintf(stderr, "wedge journal restore: 备份未通过校验，未做改动 the backup does not verify, nothing changed: %v %s\n", err, rep)
		return exitFailure
	}
	path := filepath.Join(*data, "wedge.db")
	aside, err := restoreJournal(*from, path)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal restore: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "已恢复 restored %s → %s: %s\n", *from, path, rep)
	if aside != "" {
		fmt.Fprintf(stdout, "原日志保留为 the journal it replaced is kept as %s\n", aside)
	}
	fmt.Fprintf(stdout, "注意 Note: 备份之后写入的记录若已同步到中心，请改用 wedge journal recover --hub 补齐\n"+
		"entries written after the backup that reached the hub are not in it: then run wedge journal recover --hub instead\n")
	return exitOK
}

// restoreJournal copies from to a temporary file beside path, keeps the current journal aside
// (refusing while an agent holds it), and renames the copy into place with the directory's owner.
func restoreJournal(from, path string) (aside string, err error) {
	if _, err := os.Stat(path); err == nil {
		if _, err := journal.Export(path, journal.Since{Seq: ^uint64(0)}, io.Discard); errors.Is(err, journal.ErrLocked) {
			return "", errors.New("代理正在运行，请先停止 the agent is running: stop it first (systemctl stop wedge)")
		}
		aside = fmt.Sprintf("%s.before-restore-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if err := keepAside(path, aside); err != nil {
			return "", fmt.Errorf("无法保留原日志，未做改动 cannot keep the current journal, nothing changed: %w", err)
		}
	}
	tmp := path + ".restore"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return aside, err
	}
	if err := chownLike(tmp, filepath.Dir(path)); err != nil {
		os.Remove(tmp)
		return aside, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return aside, err
	}
	return aside, syncDir(filepath.Dir(path))
}

// copyFile copies a file durably (synced) to a new file at dst, mode 0600.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
