#!/bin/sh
# wedge pre-remove (deb prerm, rpm %preun): stop and disable the services when the package goes
# away, not on an upgrade (deb "upgrade", rpm $1 = 1).
set -e
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now wedge.service wedge-hub.service >/dev/null 2>&1 || true
fi
exit 0
