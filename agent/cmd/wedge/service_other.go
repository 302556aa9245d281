//go:build !windows

package main

import (
	"context"
	"fmt"
	"io"
)

// defaultConfigPath is where `wedge run` looks without --config.
const defaultConfigPath = "/etc/wedge/wedge.yaml"

// serviceNotHere is printed by `wedge service` outside Windows.
const serviceNotHere = `wedge service: 仅用于 Windows 服务；此系统用 systemd 运行 wedge，见 packaging/systemd（wedge.service）。
wedge service: Windows services only; on this system wedge runs under systemd, see packaging/systemd (wedge.service).
`

// runAsService never takes over the process outside Windows.
func runAsService([]string) (int, bool) { return 0, false }

// cmdService explains that systemd supervises wedge here; it exits 3 (not on this platform).
func cmdService(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprint(stderr, serviceNotHere)
	return exitNotYet
}
