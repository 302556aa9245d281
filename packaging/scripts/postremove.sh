#!/bin/sh
# wedge post-remove (deb postrm, rpm %postun). Removing keeps the journal (/var/lib/wedge is the
# audit trail), the hub's data and the config. Purging (dpkg --purge, Debian only: rpm has no
# purge) deletes /var/lib/wedge, /var/lib/wedge-hub and /etc/wedge. The wedge system user and group
# stay, as Debian advises: files left elsewhere (a copied backup) must not pass to a reused uid.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
  rm -rf /var/lib/wedge /var/lib/wedge-hub /etc/wedge
fi
exit 0
