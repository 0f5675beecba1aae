#!/usr/bin/env bash
# Make sure a Docker engine answers and a compose CLI exists. Idempotent.
#
#   bash scripts/docker/ensure-engine.sh
#
# - If `docker info` already answers (a developer's Docker Desktop, a CI service, an engine a
#   previous run started), do nothing to the engine.
# - Otherwise, as root on Debian: apt-install docker.io if missing, start dockerd in the
#   background (log: $DOCKERD_LOG, pid: $DOCKERD_PIDFILE) and wait for it to answer.
# - Ensure `docker compose` (v2) or `docker-compose` (v1) exists; Debian 12 only ships v1.
#
# Why we start dockerd by hand: CI machines (and dev containers) have no systemd, so the apt
# package installs the engine but nothing starts it. This script never stops or kills an engine:
# the one it starts outlives it on purpose, so later steps (compose, e2e tests) can use it.
#
# Env: DOCKERD_LOG (default /tmp/dockerd.log), DOCKERD_PIDFILE (default /tmp/dockerd.pid),
#      DOCKERD_WAIT_SECONDS (default 30).
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/tmp/dockerd.pid}"
DOCKERD_WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-30}"
LOCK_FILE="/tmp/fogis-ensure-engine.lock"

LOG_TAG=ensure-engine
# shellcheck source=log-and-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/log-and-apt.sh"

# `docker info` can hang on a wedged daemon; never let a probe block CI.
engine_answers() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# pgrep/pidof are not on every minimal Debian (procps is optional); /proc always is.
running_dockerd_pid() {
  local dir
  for dir in /proc/[0-9]*; do
    if [ "$(cat "$dir/comm" 2>/dev/null)" = "dockerd" ]; then
      echo "${dir#/proc/}"
      return 0
    fi
  done
  return 1
}

ensure_compose_cli() {
  if timeout 10 docker compose version >/dev/null 2>&1; then
    log "compose: $(docker compose version --short 2>/dev/null || echo v2) (docker compose)"
    return 0
  fi
  if ! command -v docker-compose >/dev/null 2>&1; then
    apt_install docker-compose
  fi
  command -v docker-compose >/dev/null 2>&1 ||
    die "no compose CLI: install the docker compose v2 plugin or 'apt-get install -y docker-compose'"
  log "compose: $(docker-compose version --short 2>/dev/null || echo v1) (docker-compose)"
}

start_dockerd() {
  # An explicit DOCKER_HOST names someone else's engine: starting a local one would not help.
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info': start that engine, or unset DOCKER_HOST to use a local one" ;;
  esac
  is_root || die "no Docker engine answers and starting one needs root.
  Start Docker (Docker Desktop, 'sudo systemctl start docker', or 'sudo dockerd &'), then re-run."
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
  command -v docker >/dev/null 2>&1 || die "docker CLI missing after installing docker.io"

  # A dockerd that is alive but not answering yet (started by someone else a moment ago, or by
  # our previous run): wait for it instead of starting a second one, which would fail on the
  # shared /var/run/docker.pid anyway.
  local pid=""
  if pid="$(running_dockerd_pid)"; then
    log "dockerd already running (pid $pid), waiting for it to answer"
  else
    log "starting dockerd (log: $DOCKERD_LOG)"
    # The daemon outlives this script, so it must inherit nothing from it: not the caller's
    # pipes (CI would wait for them to close), not our lock on fd 9 (every later run would wait
    # for the daemon's lifetime), not the caller's process group (Ctrl-C would reach it).
    # setsid does not fork here (we are not a group leader), so $! is dockerd's pid.
    (
      for fd in /proc/self/fd/*; do
        fd="${fd##*/}"
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
      done
      exec setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$DOCKERD_PIDFILE"
    log "dockerd pid $pid (pid file: $DOCKERD_PIDFILE)"
  fi

  local waited=0
  while ! engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "dockerd (pid $pid) exited before answering; its log is above ($DOCKERD_LOG)."
    fi
    if [ "$waited" -ge "$DOCKERD_WAIT_SECONDS" ]; then
      tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "dockerd (pid $pid) did not answer 'docker info' within ${DOCKERD_WAIT_SECONDS}s; see $DOCKERD_LOG
  (raise DOCKERD_WAIT_SECONDS, or check that iptables and overlay/vfs storage work here)."
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "engine answers after ${waited}s"
}

main() {
  # Two callers at once (parallel CI steps, two terminals) must not both start a dockerd.
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "another ensure-engine run holds $LOCK_FILE for over 120s"

  if engine_answers; then
    log "engine answers already"
  else
    start_dockerd
  fi
  ensure_compose_cli
  log "server: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo unknown)"
}

main "$@"
