#!/bin/sh
# wedge pre-install (deb preinst, rpm %pre): the wedge system user and group exist before the files
# are unpacked, and the user is in the groups that own serial (dialout), hidraw/usbfs (plugdev where
# it exists) and usblp (lp) device nodes. Idempotent: runs again on every upgrade.
set -e
if ! getent group wedge >/dev/null; then
  groupadd --system wedge
fi
if ! getent passwd wedge >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  useradd --system --gid wedge --home-dir /var/lib/wedge --no-create-home \
    --shell "$nologin" --comment "wedge warehouse edge agent" wedge
fi
for g in dialout plugdev lp; do
  if getent group "$g" >/dev/null; then
    usermod -a -G "$g" wedge
  fi
done
exit 0
