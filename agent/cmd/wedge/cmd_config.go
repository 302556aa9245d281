package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"wedge/agent/config"
)

const configUsage = `用法 usage:
  wedge config diff [--all] A.yaml B.yaml   比较两份配置生效后的设置 compare the effective settings of two files
  wedge config hash [--canonical] FILE...   共享设置的哈希 the hash of the shared settings`

// cmdConfig is `wedge config diff|hash`.
func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "diff":
			return cmdConfigDiff(args[1:], stdout, stderr)
		case "hash":
			return cmdConfigHash(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, configUsage)
	return exitUsage
}

// loadConfigs loads each file as `wedge run` would (defaults filled, paths resolved), printing the
// problems of those that do not load.
func loadConfigs(stderr io.Writer, cmd string, paths ...string) ([]*config.Config, bool) {
	var out []*config.Config
	ok := true
	for _, p := range paths {
		c, err := config.Load(p, nil)
		if err != nil {
			fmt.Fprintf(stderr, "wedge config %s: 配置无法加载 cannot load %s:\n%v\n", cmd, p, err)
			ok = false
			continue
		}
		out = append(out, c)
	}
	return out, ok
}

// cmdConfigDiff compares the effective settings (after defaults) of two files field by field and
// prints each difference with the file and line of both sides. Per-PC fields (agent, addresses,
// paths, devices, stations, secrets, logging) are left out unless --all; secrets are never printed.
// Exit 0: equal, 1: they differ, 2: a file does not load or bad usage.
func cmdConfigDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also compare the per-PC fields (secrets are only said to differ)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		fmt.Fprintln(stderr, configUsage)
		return exitUsage
	}
	a, b := fs.Arg(0), fs.Arg(1)
	cs, ok := loadConfigs(stderr, "diff", a, b)
	if !ok {
		return exitUsage
	}
	diffs, compared := diffSettings(cs[0], cs[1], *all)
	fmt.Fprintf(stdout, "--- %s  %s\n+++ %s  %s\n", a, cs[0].SettingsHash(), b, cs[1].SettingsHash())
	for _, d := range diffs {
		fmt.Fprintln(stdout, d.field)
		w := max(len(d.a.where), len(d.b.where))
		fmt.Fprintf(stdout, "- %-*s  %s\n+ %-*s  %s\n", w, d.a.where, d.a.value, w, d.b.where, d.b.value)
	}
	scopeZH, scopeEN := "未比较各 PC 专属字段，--all 全部比较", "per-PC fields ignored, --all compares them too"
	if *all {
		scopeZH, scopeEN = "全部字段", "all fields"
	}
	if len(diffs) == 0 {
		fmt.Fprintf(stdout, "配置一致（比较 %d 项，%s）/ settings agree (%d compared, %s)\n", compared, scopeZH, compared, scopeEN)
		return exitOK
	}
	fmt.Fprintf(stdout, "%d 项设置不同（比较 %d 项，%s）/ %d settings differ (%d compared, %s)\n", len(diffs), compared, scopeZH, len(diffs), compared, scopeEN)
	return exitFailure
}

// side is one file's view of a field in a difference.
type side struct{ where, value string }

type settingDiff struct {
	field string
	a, b  side
}

// diffSettings returns the fields whose effective values differ between a and b (present in one
// only included), in a's order then b's, and how many fields were compared.
func diffSettings(a, b *config.Config, all bool) ([]settingDiff, int) {
	pick := func(c *config.Config) ([]config.Setting, map[string]config.Setting) {
		ss := c.Settings()
		if !all {
			ss = c.SharedSettings()
		}
		m := make(map[string]config.Setting, len(ss))
		for _, s := range ss {
			m[s.Field] = s
		}
		return ss, m
	}
	as, am := pick(a)
	bs, bm := pick(b)
	var fields []string
	for _, s := range as {
		fields = append(fields, s.Field)
	}
	for _, s := range bs {
		if _, ok := am[s.Field]; !ok {
			fields = append(fields, s.Field)
		}
	}
	show := func(c *config.Config, s config.Setting, ok bool) side {
		switch {
		case !ok:
			return side{where: c.File, value: "（无 absent）"}
		case s.Secret:
			return side{where: s.Where(c.File), value: "（保密 secret, not shown）"}
		case s.Value == "":
			return side{where: s.Where(c.File), value: `""`}
		}
		return side{where: s.Where(c.File), value: s.Value}
	}
	var out []settingDiff
	for _, f := range fields {
		sa, oka := am[f]
		sb, okb := bm[f]
		if oka && okb && sa.Value == sb.Value {
			continue
		}
		out = append(out, settingDiff{field: f, a: show(a, sa, oka), b: show(b, sb, okb)})
	}
	return out, len(fields)
}

// cmdConfigHash prints the hash of each file's shared settings ("HASH  FILE"), the one the agent
// publishes in its status; --canonical prints the canonical form the hash covers instead.
func cmdConfigHash(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	canonical := fs.Bool("canonical", false, "print the canonical form of the shared settings that the hash covers")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(stderr, configUsage)
		return exitUsage
	}
	cs, ok := loadConfigs(stderr, "hash", fs.Args()...)
	if !ok {
		return exitUsage
	}
	for i, c := range cs {
		if *canonical {
			fmt.Fprintf(stdout, "# %s  %s\n%s", fs.Arg(i), c.SettingsHash(), strings.TrimRight(string(c.SettingsCanonical()), "\n")+"\n")
			continue
		}
		fmt.Fprintf(stdout, "%s  %s\n", c.SettingsHash(), fs.Arg(i))
	}
	return exitOK
}
