#!/usr/bin/env bash
# Start (or stop) a FreeSWITCH installed under $FS_PREFIX (default /usr/local/freeswitch)
# configured from tests/data/realswitch/conf, and the SIPp phones, detached from this shell
# (setsid: processes started from a shell that ends may die with it).
# Usage: start.sh [start|stop|status]       switch 1 (its config in $FS_PREFIX/etc/freeswitch) + the phones
#        start.sh start2|stop2|status2      switch 2, a second instance of the same install
# Phones run from a writable copy of sipp/ in $SIPP_DIR; both switches ring the same phones.
#
# Switch 2 runs from $FS2_DIR (default /var/tmp/fsw-switch2): its configuration is conf/
# copied afresh at every start2, with only its ports changed (Event Socket $FS2_ESL_PORT,
# SIP profile $FS2_SIP_PORT, RTP $FS2_RTP_START-$FS2_RTP_END), so it never drifts from
# switch 1's; its log, db, run (pid file), storage, temp, cache and recordings directories
# are its own. `stop`/`stop2` return once that switch's process has exited.
set -u
FS=${FS_PREFIX:-/usr/local/freeswitch}
here=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=${SIPP_DIR:-/var/tmp/fsw-sipp}
FS2_DIR=${FS2_DIR:-/var/tmp/fsw-switch2}
FS2_ESL_PORT=${FS2_ESL_PORT:-8022}
FS2_SIP_PORT=${FS2_SIP_PORT:-5090}
FS2_RTP_START=${FS2_RTP_START:-40000}
FS2_RTP_END=${FS2_RTP_END:-44999}
FS2_DIRS=(log db run storage temp cache recordings)

fs_up() { # esl-port
  "$FS/bin/fs_cli" -H 127.0.0.1 -P "$1" -p ClueCon -x status 2>/dev/null | grep -q '^UP'
}

# Switch 2's command-line flags: its own directories, the install's modules and sounds.
fs2_flags() {
  printf -- '-conf\n%s\n' "$FS2_DIR/conf"
  for d in "${FS2_DIRS[@]}"; do printf -- '-%s\n%s\n' "$d" "$FS2_DIR/$d"; done
}

# conf/ with switch 2's ports; fails if a pattern no longer matches (conf/ changed).
fs2_conf() {
  local c=$FS2_DIR/conf
  rm -rf "$c" && cp -r "$here/conf" "$c" || return 1
  sed -i "s/\"internal_sip_port=5060\"/\"internal_sip_port=$FS2_SIP_PORT\"/" "$c/vars.xml"
  sed -i "s/name=\"listen-port\" value=\"8021\"/name=\"listen-port\" value=\"$FS2_ESL_PORT\"/" \
    "$c/autoload_configs/event_socket.conf.xml"
  sed -i -e "s/name=\"rtp-start-port\" value=\"[0-9]*\"/name=\"rtp-start-port\" value=\"$FS2_RTP_START\"/" \
    -e "s/name=\"rtp-end-port\" value=\"[0-9]*\"/name=\"rtp-end-port\" value=\"$FS2_RTP_END\"/" \
    "$c/autoload_configs/switch.conf.xml"
  grep -q "internal_sip_port=$FS2_SIP_PORT\"" "$c/vars.xml" &&
    grep -q "value=\"$FS2_ESL_PORT\"" "$c/autoload_configs/event_socket.conf.xml" &&
    grep -q "value=\"$FS2_RTP_START\"" "$c/autoload_configs/switch.conf.xml" ||
    { echo "conf/ changed: start.sh cannot set switch 2's ports in $c" >&2; return 1; }
}

# Stop one switch (run dir holds its pid file) and wait for its process to exit.
fs_stop() { # esl-port run-dir extra-flags...
  local port=$1 run=$2; shift 2
  local pid
  pid=$(cat "$run/freeswitch.pid" 2>/dev/null)
  fs_up "$port" && "$FS/bin/freeswitch" -stop "$@" >/dev/null 2>&1
  if [ -n "$pid" ]; then
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "FreeSWITCH $pid did not exit" >&2; return 1; }
  fi
  echo "FreeSWITCH (ESL $port) stopped"
}

case "${1:-start}" in
  start)
    if ! fs_up 8021; then setsid "$FS/bin/freeswitch" -ncwait -nonat -nonatmap </dev/null >/dev/null 2>&1; fi
    fs_up 8021 && echo "FreeSWITCH up" || { echo "FreeSWITCH did not start (see $FS/var/log/freeswitch/freeswitch.log)"; exit 1; }
    if [ ! -d "$SIPP_DIR" ]; then cp -r "$here/sipp" "$SIPP_DIR"; chmod -R u+w "$SIPP_DIR"; fi
    mkdir -p "$SIPP_DIR/logs" "$SIPP_DIR/run"
    SIPP_DIR=$SIPP_DIR setsid "$SIPP_DIR/peers.sh" start </dev/null ;;
  stop)
    SIPP_DIR=$SIPP_DIR "$SIPP_DIR/peers.sh" stop
    fs_stop 8021 "$FS/var/run/freeswitch" ;;
  status)
    fs_up 8021 && echo "FreeSWITCH up" || echo "FreeSWITCH down"
    SIPP_DIR=$SIPP_DIR "$SIPP_DIR/peers.sh" status ;;
  start2)
    if ! fs_up "$FS2_ESL_PORT"; then
      for d in "${FS2_DIRS[@]}"; do mkdir -p "$FS2_DIR/$d"; done
      fs2_conf || exit 1
      mapfile -t flags < <(fs2_flags)
      setsid "$FS/bin/freeswitch" -ncwait -nonat -nonatmap "${flags[@]}" </dev/null >/dev/null 2>&1
    fi
    fs_up "$FS2_ESL_PORT" && echo "FreeSWITCH 2 up (ESL $FS2_ESL_PORT, SIP $FS2_SIP_PORT)" ||
      { echo "FreeSWITCH 2 did not start (see $FS2_DIR/log/freeswitch.log)"; exit 1; } ;;
  stop2)
    fs_stop "$FS2_ESL_PORT" "$FS2_DIR/run" -run "$FS2_DIR/run" ;;
  status2)
    fs_up "$FS2_ESL_PORT" && echo "FreeSWITCH 2 up (ESL $FS2_ESL_PORT)" || echo "FreeSWITCH 2 down" ;;
  *) echo "usage: $0 start|stop|status|start2|stop2|status2" >&2; exit 2 ;;
esac
