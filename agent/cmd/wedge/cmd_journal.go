package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"wedge/agent"
	"wedge/agent/journal"
	"wedge/sync/hub"
	"wedge/sync/wire"
)

// recoverSteps tells the operator what to do about a damaged or broken journal in dataDir.
func recoverSteps(dataDir string) string {
	if dataDir == "" {
		dataDir = "DIR"
	}
	return fmt.Sprintf(`下一步 What to do:
  1. 停止代理 stop the agent (systemctl stop wedge)
  2. wedge journal verify --data %[1]s
     查看损坏之处 see what is damaged
  3. wedge journal recover --data %[1]s --hub http://HUB:8480
     用中心的副本重建日志，损坏的文件会保留为 wedge.db.damaged-<时间>
     rebuild the journal from the hub's copy; the damaged file is kept as wedge.db.damaged-<time>
     或从备份恢复 wedge.db or restore wedge.db from a backup
`, dataDir)
}

// journalPath resolves --data: the agent's data_dir, or the journal file itself.
func journalPath(data string) (path string, err error) {
	st, err := os.Stat(data)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return filepath.Join(data, agent.JournalFile), nil
	}
	return data, nil
}

func cmdJournalVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "代理数据目录 the agent's data_dir (or the journal file itself)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal verify --data DIR")
		return exitUsage
	}
	path, err := journalPath(*data)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal verify: 无法打开 cannot open %s: %v\n", *data, err)
		return exitUsage
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "wedge journal verify: 目录中没有日志 no journal in %s: %v\n", *data, err)
		return exitUsage
	}
	rep, err := journal.Verify(path)
	if err != nil && !errors.Is(err, journal.ErrDamaged) {
		// Not checkable at all: missing, locked by a running agent, not a wedge journal.
		fmt.Fprintf(stderr, "wedge journal verify: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s\n", rep)
	if !rep.OK {
		fmt.Fprint(stdout, recoverSteps(filepath.Dir(path)))
		return exitFailure
	}
	return exitOK
}

// recoverOpts are the flags of `wedge journal recover`.
type recoverOpts struct {
	data, hub, token           string
	journalID, site, agentName string
	force                      bool
}

func cmdJournalRecover(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge journal recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o recoverOpts
	fs.StringVar(&o.data, "data", "", "代理数据目录 the agent's data_dir (or the journal file itself)")
	fs.StringVar(&o.hub, "hub", "", "中心地址 the hub's HTTP address, e.g. http://hub:8480")
	fs.StringVar(&o.token, "token", "", "访问中心的令牌（可选）bearer token for the hub (optional)")
	fs.StringVar(&o.journalID, "journal-id", "", "日志编号，损坏文件中读不出时必填 the journal id, when the damaged file does not say")
	fs.StringVar(&o.site, "site", "", "仓库，损坏文件中读不出时必填 the site, when the damaged file does not say")
	fs.StringVar(&o.agentName, "agent", "", "代理名，损坏文件中读不出时必填 the agent, when the damaged file does not say")
	fs.BoolVar(&o.force, "force", false, "日志完好也重建 rebuild even a journal that verifies")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if o.data == "" || o.hub == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge journal recover --data DIR --hub URL [--token T] [--journal-id ID --site S --agent A] [--force]")
		return exitUsage
	}
	if u, err := url.Parse(o.hub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "wedge journal recover: --hub %q 不是 http(s) 地址 is not an http(s) URL\n", o.hub)
		return exitUsage
	}
	code, err := recoverJournal(ctx, o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "wedge journal recover: %v\n", err)
	}
	return code
}

// recoverJournal rebuilds the journal in o.data from the hub's copy and what is readable of the
// local file: entries 1…acked from the hub (every link checked), then the local entries after
// them as long as they chain, then a note entry saying what was recovered. The new file replaces
// the old one only when it is complete; the old one is kept beside it, never deleted.
func recoverJournal(ctx context.Context, o recoverOpts, stdout io.Writer) (int, error) {
	path, err := journalPath(o.data)
	if err != nil {
		return exitUsage, fmt.Errorf("无法打开 cannot open %s: %w", o.data, err)
	}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return exitUsage, statErr
	}
	var sal journal.Salvaged
	if exists {
		// Verify also refuses a file that a running agent holds, or that is no journal at all.
		rep, err := journal.Verify(path)
		if err != nil && !errors.Is(err, journal.ErrDamaged) {
			return exitUsage, err
		}
		if rep.OK && !o.force {
			fmt.Fprintf(stdout, "%s\n日志完好，未做任何改动 the journal verifies: nothing done (--force rebuilds it anyway)\n", rep)
			return exitOK, nil
		}
		if sal, err = journal.Salvage(path, math.MaxUint64); err != nil {
			return exitFailure, err
		}
	}
	// Identity: what the file says, else the flags; never two different answers.
	pick := func(what, fromFile, fromFlag string) (string, error) {
		if fromFile != "" && fromFlag != "" && fromFile != fromFlag {
			return "", fmt.Errorf("%s: 文件中为 %q，参数为 %q the file says %q, the flag says %q", what, fromFile, fromFlag, fromFile, fromFlag)
		}
		if fromFile != "" {
			return fromFile, nil
		}
		return fromFlag, nil
	}
	jid, err := pick("journal id", sal.JournalID, o.journalID)
	if err != nil {
		return exitUsage, err
	}
	site, err := pick("site", sal.Site, o.site)
	if err != nil {
		return exitUsage, err
	}
	agentName, err := pick("agent", sal.Agent, o.agentName)
	if err != nil {
		return exitUsage, err
	}
	if site == "" || agentName == "" {
		return exitUsage, fmt.Errorf("文件中读不出仓库和代理名，请用 --site 和 --agent 指定 the file does not say its site and agent: give --site and --agent")
	}
	c := &hubClient{base: strings.TrimRight(o.hub, "/"), token: o.token, http: &http.Client{Timeout: 30 * time.Second}}
	if jid == "" {
		hint := ""
		if known, err := c.journalOf(ctx, site, agentName); err == nil && known != "" {
			hint = fmt.Sprintf("（中心记录的 %s/%s 日志编号为 %s the hub knows journal %s for %s/%s）", site, agentName, known, known, site, agentName)
		}
		return exitUsage, fmt.Errorf("文件中读不出日志编号，请用 --journal-id 指定 the file does not say its journal id: give --journal-id%s", hint)
	}

	first, err := c.entries(ctx, site, agentName, jid, 0)
	if err != nil {
		return exitFailure, err
	}
	acked := first.AckedSeq
	var local []wire.Entry
	if exists {
		s, err := journal.Salvage(path, acked)
		if err != nil {
			return exitFailure, err
		}
		local = s.Entries
	}
	rc := &recoveryChain{c: c, site: site, agent: agentName, jid: jid, first: first, acked: acked, local: local}
	tmp := path + ".recovering"
	os.Remove(tmp) // a leftover of an interrupted recover, never the journal itself
	opts := &journal.Options{Site: site, Agent: agentName}
	last, err := journal.Rebuild(tmp, opts, journal.Restore{JournalID: jid, Entries: rc.entries(ctx), AckedSeq: acked})
	if err != nil {
		return exitFailure, fmt.Errorf("重建失败，原文件未改动 rebuild failed, the journal file is unchanged: %w", err)
	}

	// What the note says.
	detail := fmt.Sprintf("日志已恢复 journal recovered: 第 1–%d 条来自中心 entries 1–%d from the hub %s", rc.hubLast, rc.hubLast, o.hub)
	if rc.localLast > 0 {
		detail += fmt.Sprintf("; 第 %d–%d 条来自本地损坏文件 entries %d–%d salvaged from the damaged file", acked+1, rc.localLast, acked+1, rc.localLast)
	}
	if sal.LastSeq > last {
		detail += fmt.Sprintf("; 本地第 %d–%d 条未能恢复 local entries %d–%d are lost", last+1, sal.LastSeq, last+1, sal.LastSeq)
	}
	if rc.stopped != "" {
		detail += "; " + rc.stopped
	}
	// The agent's own state (downlink position, breaker) matches the entries only when every entry
	// of the damaged file is back; otherwise it starts afresh (intake then catches up from the
	// start of the downlink, which it applies idempotently).
	app := sal.AppMeta
	if !exists || sal.LastSeq == 0 || last < sal.LastSeq {
		if len(app) > 0 {
			detail += "; 代理状态（下行位置、熔断器）重新开始 the agent's state (downlink position, breaker) starts afresh"
		}
		app = nil
	}
	return installRecovered(ctx, path, tmp, opts, exists, app, detail, jid, acked, stdout)
}

// recoveryChain is the chain a recover rebuilds: the hub's entries 1…acked, fetched page by page
// and checked link by link, then the local entries that follow on (as far as they chain).
type recoveryChain struct {
	c                *hubClient
	site, agent, jid string
	first            hub.JournalEntries
	acked            uint64
	local            []wire.Entry

	hubLast, localLast uint64
	stopped            string // why the local entries end where they do
}

func (rc *recoveryChain) lacks(seq uint64) error {
	return fmt.Errorf("中心副本缺少第 %d 条 the hub's copy lacks entry %d (it acknowledged up to %d)", seq, seq, rc.acked)
}

// entries yields the chain; an error ends it.
func (rc *recoveryChain) entries(ctx context.Context) func(yield func(wire.Entry, error) bool) {
	return func(yield func(wire.Entry, error) bool) {
		var prev *wire.Entry
		page, next := rc.first, uint64(1)
		for next <= rc.acked {
			if len(page.Entries) == 0 {
				yield(wire.Entry{}, rc.lacks(next))
				return
			}
			for _, e := range page.Entries {
				if e.Seq != next {
					yield(wire.Entry{}, rc.lacks(next))
					return
				}
				if err := wire.VerifyLink(prev, e); err != nil {
					yield(wire.Entry{}, fmt.Errorf("中心副本在第 %d 条断裂，请从备份恢复 the hub's copy is broken at entry %d, restore a backup: %w", e.Seq, e.Seq, err))
					return
				}
				if !yield(e, nil) {
					return
				}
				prev, rc.hubLast, next = &e, e.Seq, next+1
				if next > rc.acked {
					break
				}
			}
			if next <= rc.acked {
				var err error
				if page, err = rc.c.entries(ctx, rc.site, rc.agent, rc.jid, next-1); err != nil {
					yield(wire.Entry{}, err)
					return
				}
			}
		}
		for _, e := range rc.local {
			if err := wire.VerifyLink(prev, e); err != nil {
				rc.stopped = fmt.Sprintf("本地第 %d 条接不上中心副本 local entry %d does not chain: %v", e.Seq, e.Seq, err)
				return
			}
			if !yield(e, nil) {
				return
			}
			prev, rc.localLast = &e, e.Seq
		}
	}
}

// installRecovered ends the rebuilt journal at tmp with the recovery note (and the agent's state
// when it is still valid), keeps the damaged file aside and moves the new journal into place.
func installRecovered(ctx context.Context, path, tmp string, opts *journal.Options, exists bool, app map[string][]byte,
	detail, jid string, acked uint64, stdout io.Writer) (int, error) {
	aside := ""
	if exists {
		aside = fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		detail += "; 原文件保留为 the damaged file is kept as " + filepath.Base(aside)
	}
	s, err := journal.Open(tmp, opts)
	if err != nil {
		os.Remove(tmp)
		return exitFailure, err
	}
	var note wire.Entry
	err = s.Do(ctx, func(tx *journal.Tx) error {
		for k, v := range app {
			tx.SetMeta(k, v)
		}
		note = tx.Append(wire.Entry{Kind: wire.KindNote, Trigger: wire.TriggerSystem, Detail: detail})
		return nil
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return exitFailure, err
	}
	if exists {
		if err := keepAside(path, aside); err != nil {
			os.Remove(tmp)
			return exitFailure, fmt.Errorf("无法保留原文件，未做改动 cannot keep the damaged file, nothing changed: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return exitFailure, fmt.Errorf("新日志在 %s，但无法移入 the new journal is at %s but cannot be moved into place: %w", tmp, tmp, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(stdout, "%s\n新日志 new journal: %s（日志编号 journal %s，共 %d 条 %d entries，中心已确认 acked %d）\n", detail, path, jid, note.Seq, note.Seq, acked)
	return exitOK, nil
}

// keepAside gives the damaged file a second name, aside, so that renaming the new journal over it
// never leaves a moment without a journal at path (an agent started then would begin a new one).
// A hard link needs no copy; where links are not possible it is copied.
func keepAside(path, aside string) error {
	if err := os.Link(path, aside); err != nil {
		if err := copyFile(path, aside); err != nil {
			return err
		}
	}
	return syncDir(filepath.Dir(aside))
}

// syncDir makes a directory's new entries durable (a rename is not, until then).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" { // Windows cannot fsync a directory
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// hubClient reads the hub's HTTP API.
type hubClient struct {
	base, token string
	http        *http.Client
}

func (c *hubClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("中心无法访问 the hub is unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("中心应答读取失败 reading the hub's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		return fmt.Errorf("中心拒绝 the hub answered %s for %s: %s", resp.Status, path, e.Error)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("中心应答无法解析 the hub's answer for %s does not parse: %w", path, err)
	}
	return nil
}

// entries reads one page of the hub's copy of a journal: the entries after seq after.
func (c *hubClient) entries(ctx context.Context, site, agentName, jid string, after uint64) (hub.JournalEntries, error) {
	var out hub.JournalEntries
	p := fmt.Sprintf("/v1/journals/%s/%s/%s/entries?after=%s&limit=%d", url.PathEscape(site), url.PathEscape(agentName),
		url.PathEscape(jid), strconv.FormatUint(after, 10), hub.MaxEntriesLimit)
	err := c.get(ctx, p, &out)
	return out, err
}

// journalOf is the journal id the hub last saw from site/agent ("" if none).
func (c *hubClient) journalOf(ctx context.Context, site, agentName string) (string, error) {
	var agents []struct {
		Site      string `json:"site"`
		Agent     string `json:"agent"`
		JournalID string `json:"journal_id"`
	}
	if err := c.get(ctx, "/v1/agents", &agents); err != nil {
		return "", err
	}
	for _, a := range agents {
		if a.Site == site && a.Agent == agentName {
			return a.JournalID, nil
		}
	}
	return "", nil
}
