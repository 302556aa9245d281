#!/bin/sh
# wedge post-remove (deb postrm, rpm %postun). Removing keeps the journal (/var/lib/wedge is the
# audit trail), the hub's data and the wedge user. Purging (dpkg --purge, Debian only: rpm has no
# purge) deletes /var/lib/wedge, /var/lib/wedge-hub, /etc/wedge and the user and group.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
  rm -rf /var/lib/wedge /var/lib/wedge-hub /etc/wedge
  if getent passwd wedge >/dev/null; then userdel wedge >/dev/null 2>&1 || true; fi
  if getent group wedge >/dev/null; then groupdel wedge >/dev/null 2>&1 || true; fi
fi
exit 0
