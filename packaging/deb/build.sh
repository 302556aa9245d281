#!/usr/bin/env bash
# Builds dist/wedge_<version>_<arch>.deb with dpkg-deb: the binary, systemd units, udev rules, an
# example config and the docs. Usage: packaging/deb/build.sh [version]
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-$(git describe --tags --always 2>/dev/null | sed 's/^v//' || echo 0.0.0)}
case "$version" in [0-9]*) ;; *) version="0.0.0+$version" ;; esac
arch=$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# cgo stays on: the HID driver (karalabe/hid) compiles hidapi + libusb.
CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X wedge/agent/version.Version=$version" -o "$root/usr/bin/wedge" ./agent/cmd/wedge
install -D -m 0644 packaging/systemd/wedge.service "$root/lib/systemd/system/wedge.service"
install -D -m 0644 packaging/systemd/wedge-hub.service "$root/lib/systemd/system/wedge-hub.service"
for f in packaging/udev/*.rules; do [ -e "$f" ] && install -D -m 0644 "$f" "$root/lib/udev/rules.d/$(basename "$f")"; done
[ -e docs/config.example.yaml ] && install -D -m 0640 docs/config.example.yaml "$root/etc/wedge/wedge.yaml"
install -D -m 0644 README.md "$root/usr/share/doc/wedge/README.md"
for f in docs/*.md; do install -D -m 0644 "$f" "$root/usr/share/doc/wedge/$(basename "$f")"; done

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CTRL
Package: wedge
Version: $version
Architecture: $arch
Maintainer: wedge developers <dev@wedge.local>
Section: net
Priority: optional
Description: warehouse edge agent (仓库边缘代理)
 Reads barcode scanners and waybill printers, advances orders through
 待分仓 → 已打单 → 已揽收 with a tamper-evident journal, and syncs to a hub over MQTT.
CTRL
echo /etc/wedge/wedge.yaml > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
if ! getent passwd wedge >/dev/null; then
  adduser --system --group --home /var/lib/wedge --no-create-home wedge
fi
for g in dialout lp plugdev; do getent group $g >/dev/null && adduser wedge $g >/dev/null || true; done
chown root:wedge /etc/wedge/wedge.yaml 2>/dev/null || true
command -v udevadm >/dev/null && udevadm control --reload-rules && udevadm trigger || true
if [ -d /run/systemd/system ]; then systemctl daemon-reload; systemctl enable wedge.service >/dev/null || true; fi
POST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then systemctl stop wedge.service || true; fi
PRERM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
mkdir -p dist
dpkg-deb --root-owner-group --build "$root" "dist/wedge_${version}_${arch}.deb"
