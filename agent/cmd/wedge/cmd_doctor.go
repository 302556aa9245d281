package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"wedge/agent"
	"wedge/agent/config"
	"wedge/agent/doctor"
	"wedge/agent/journal"
	"wedge/drivers/discovery"
	"wedge/drivers/profile"
	"wedge/sync/uplink"
)

// exitDoctorUsage is `wedge doctor`'s status for bad flags: 2 means "warnings only" there.
const exitDoctorUsage = 64

// udevDirs are where udev rules are looked for (the packages install to the first or second).
var udevDirs = []string{"/lib/udev/rules.d", "/usr/lib/udev/rules.d", "/etc/udev/rules.d"}

// cmdDoctor is `wedge doctor`: every check in agent/doctor, one line each; exit 0 all OK,
// 1 any FAIL, 2 warnings only.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wedge doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "配置文件 config file")
	hubURL := fs.String("hub", "", "中心地址，用于比对时钟 the hub's URL, for the clock check (http://HUB:8480)")
	timeout := fs.Duration("timeout", 5*time.Second, "每项网络检查的超时 timeout of each network check")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "用法 usage: wedge doctor [--config FILE] [--hub URL] [--timeout 5s]")
		return exitDoctorUsage
	}
	rs := doctorChecks(ctx, *path, *hubURL, *timeout)
	doctor.Write(stdout, rs)
	return doctor.Exit(rs)
}

func doctorChecks(ctx context.Context, path, hubURL string, timeout time.Duration) []doctor.Result {
	client := &http.Client{Timeout: timeout}
	cfg, profiles, err := loadRunConfig(path)
	var rs []doctor.Result
	if err != nil {
		rs = append(rs, doctor.Config(path, err, ""))
	} else {
		rs = append(rs, doctor.Config(path, nil, fmt.Sprintf("site %s, agent %s, %d stations, %d devices", cfg.Site, cfg.Agent, len(cfg.Stations), len(cfg.Devices))))
		rs = append(rs, doctorDevices(cfg, profiles)...)
	}
	rs = append(rs, doctor.UdevRules(runtime.GOOS, exists, udevDirs...))
	if cfg != nil {
		rs = append(rs, doctor.Broker(ctx, cfg.Broker.URL, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return uplink.Reach(ctx, brokerOptions(cfg))
		}))
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	rs = append(rs, doctor.Clock(cctx, client, hubURL, time.Now))
	cancel()
	if cfg != nil {
		jpath := filepath.Join(cfg.DataDir, agent.JournalFile)
		rs = append(rs, doctor.Disk(cfg.DataDir, doctor.FreeBytes),
			doctor.Journal(jpath, exists(jpath), journal.Verify),
			doctorBacklog(ctx, client, cfg))
	}
	return rs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// doctorDevices checks the configured devices against what is plugged in.
func doctorDevices(cfg *config.Config, profiles map[string]profile.Profile) []doctor.Result {
	o := devicesSeams()
	for _, p := range profiles {
		o.Profiles = append(o.Profiles, p)
	}
	slices.SortFunc(o.Profiles, func(a, b profile.Profile) int { return strings.Compare(a.ID, b.ID) })
	found, _ := discovery.Scan(&o) // serial listing errors still leave the HID devices
	return doctor.Devices(cfg.Devices, found, os.Stat, doctor.NodeAccess{GroupOf: doctor.FileGroup})
}

// doctorBacklog asks the running agent's API for its unsynced count.
func doctorBacklog(ctx context.Context, client *http.Client, cfg *config.Config) doctor.Result {
	if cfg.API.Listen == "off" {
		return doctor.Backlog(doctor.Status{}, errors.New("api.listen: off"))
	}
	base, err := apiBase(cfg.API.Listen)
	if err != nil {
		return doctor.Backlog(doctor.Status{}, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/status", nil)
	if err != nil {
		return doctor.Backlog(doctor.Status{}, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return doctor.Backlog(doctor.Status{}, err)
	}
	defer resp.Body.Close()
	var st doctor.Status
	if resp.StatusCode != http.StatusOK {
		return doctor.Backlog(st, fmt.Errorf("GET /api/v1/status: %s", resp.Status))
	}
	return doctor.Backlog(st, json.NewDecoder(resp.Body).Decode(&st))
}
