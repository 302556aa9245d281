package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"wedge/agent"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
)

// devicesSeams returns the enumeration seams of `wedge devices` (nil fields: the system's). Tests
// replace it with fake enumerations.
var devicesSeams = func() discovery.Options { return discovery.Options{} }

func cmdDevices(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge devices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("profiles", "", "额外的固件配置目录 an extra firmware profile directory (like profiles_dir)")
	asJSON := fs.Bool("json", false, "输出 JSON output JSON")
	goos := fs.String("os", "", "按此系统给出提示（默认本机）give the warnings for this OS (default: this one)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wedge devices: 多余的参数 unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	profiles, err := agent.LoadProfiles(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "wedge devices: 固件配置无效 invalid firmware profiles:\n%v\n", err)
		return exitFailure
	}
	o := devicesSeams()
	for _, p := range profiles {
		o.Profiles = append(o.Profiles, p)
	}
	slices.SortFunc(o.Profiles, func(a, b profile.Profile) int { return strings.Compare(a.ID, b.ID) })
	if *goos != "" {
		o.GOOS = *goos
	}
	rep, err := discovery.Devices(&o)
	if err != nil {
		// the HID devices are still listed
		fmt.Fprintf(stderr, "wedge devices: 无法列出串口 cannot list serial ports: %v\n", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return exitOK
	}
	fmt.Fprint(stdout, rep.String())
	if len(rep.Entries) > 0 {
		fmt.Fprintln(stdout, "\n把 config 段落粘贴到 wedge.yaml 的 devices: 下，并填写 station / paste a config snippet under devices: in wedge.yaml and set its station")
	}
	return exitOK
}
