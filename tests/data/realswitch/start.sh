#!/usr/bin/env bash
# Start (or stop) a FreeSWITCH installed under $FS_PREFIX (default /usr/local/freeswitch)
# configured from tests/data/realswitch/conf, and the SIPp phones, detached from this shell
# (setsid: processes started from a shell that ends may die with it).
# Usage: start.sh [start|stop|status]. Phones run from a writable copy of sipp/ in $SIPP_DIR.
set -u
FS=${FS_PREFIX:-/usr/local/freeswitch}
here=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=${SIPP_DIR:-/var/tmp/fsw-sipp}
fs_up() { "$FS/bin/fs_cli" -H 127.0.0.1 -P 8021 -p ClueCon -x status 2>/dev/null | grep -q '^UP'; }
case "${1:-start}" in
  start)
    if ! fs_up; then setsid "$FS/bin/freeswitch" -ncwait -nonat -nonatmap </dev/null >/dev/null 2>&1; fi
    fs_up && echo "FreeSWITCH up" || { echo "FreeSWITCH did not start (see $FS/var/log/freeswitch/freeswitch.log)"; exit 1; }
    if [ ! -d "$SIPP_DIR" ]; then cp -r "$here/sipp" "$SIPP_DIR"; chmod -R u+w "$SIPP_DIR"; fi
    mkdir -p "$SIPP_DIR/logs" "$SIPP_DIR/run"
    SIPP_DIR=$SIPP_DIR setsid "$SIPP_DIR/peers.sh" start </dev/null ;;
  stop)
    SIPP_DIR=$SIPP_DIR "$SIPP_DIR/peers.sh" stop
    fs_up && "$FS/bin/freeswitch" -stop ;;
  status)
    fs_up && echo "FreeSWITCH up" || echo "FreeSWITCH down"
    SIPP_DIR=$SIPP_DIR "$SIPP_DIR/peers.sh" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
