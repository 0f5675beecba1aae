# Sourced by the scripts next to it (ensure-engine.sh, build-local-images.sh) after they set
# LOG_TAG: `log` and `die` write tagged lines to stderr; `apt_install PACKAGE...` installs Debian
# packages as root, running `apt-get update` once per script run and only when something is
# installed (a fresh machine has empty lists).

log() { echo "[$LOG_TAG] $*" >&2; }
die() {
  echo "[$LOG_TAG] ERROR: $*" >&2
  exit 1
}

apt_updated=0
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "need root to install $* (run: sudo apt-get install -y $*)"
  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: install $* with your OS package manager"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2 ||
      die "apt-get update failed (are the Debian mirrors reachable?)"
    apt_updated=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2 ||
    die "apt-get install $* failed; see the apt output above"
}
