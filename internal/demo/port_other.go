//go:build !linux

package demo

import (
	"errors"
	"log/slog"
)

// openScannerPort fails: the demo's simulated serial scanners need Linux pseudo-terminals
// (internal/pty). The rest of wedge builds and runs on other systems.
func openScannerPort() (simPort, error) {
	return nil, errors.New("模拟扫码枪需要 Linux 伪终端，请在 Linux 或 WSL 上运行演示 / the simulated scanners need Linux pseudo-terminals: run the demo on Linux or WSL")
}

// startPrinter fails like openScannerPort: the printer emulator serves Linux pseudo-terminals too.
func startPrinter(*slog.Logger) (simPrinter, error) {
	return nil, errors.New("模拟打印机需要 Linux / the simulated printer needs Linux")
}
