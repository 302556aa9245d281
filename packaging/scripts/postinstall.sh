#!/bin/sh
# wedge post-install (deb postinst, rpm %post): the state directory belongs to wedge, the config is
# readable by its group, udev applies the scanner rules, and systemd knows the units. wedge.service
# is enabled but not started: the example config names a site, an agent and a hub key that must be
# edited first (then: wedge doctor; systemctl start wedge).
set -e
case "$1" in
  configure|1|2) ;;
  *) exit 0 ;;
esac
install -d -m 0750 -o wedge -g wedge /var/lib/wedge
if [ -f /etc/wedge/wedge.yaml ]; then
  chgrp wedge /etc/wedge/wedge.yaml
  chmod 0640 /etc/wedge/wedge.yaml
fi
if command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload-rules >/dev/null 2>&1 || true
  udevadm trigger --subsystem-match=usb --subsystem-match=hidraw --subsystem-match=tty >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  systemctl enable wedge.service >/dev/null 2>&1 || true
  # An upgrade restarts a running agent onto the new binary (it stops gracefully on SIGTERM).
  systemctl try-restart wedge.service wedge-hub.service >/dev/null 2>&1 || true
fi
exit 0
