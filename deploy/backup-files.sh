#!/usr/bin/env bash
# Back up the server's own configuration, which the app backup does not hold: the environment
# file, the proxy configuration and the systemd units. Writes BACKUP_DIR/config-<time>.tar.gz
# (mode 600: it holds SECRET_KEY and the database password), keeps the last KEEP archives, and
# hands the new archive to BACKUP_POST_HOOK (as its last argument) so it goes off-site too.
# Runs as the service user (toolkitrag-backup.service): everything it reads is readable by the
# group toolkitrag (the env file, root:toolkitrag 640) or by everyone (proxy configs, units).
set -euo pipefail
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
KEEP=${KEEP:-14}

# A value from the env file (simple KEY=value lines; surrounding quotes removed), when the
# environment does not set it already.
env_value() {
  if [ -r "$ENV_FILE" ]; then
    sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
  fi
}
BACKUP_DIR=${BACKUP_DIR:-$(env_value BACKUP_DIR)}
BACKUP_DIR=${BACKUP_DIR:-/srv/toolkitrag/var/backups}
BACKUP_POST_HOOK=${BACKUP_POST_HOOK-$(env_value BACKUP_POST_HOOK)}
CONFIG_PATHS=${CONFIG_PATHS:-/etc/toolkitrag /etc/caddy/Caddyfile /etc/nginx/conf.d/toolkitrag.conf
  /etc/systemd/system/toolkitrag.service /etc/systemd/system/toolkitrag-worker.service
  /etc/systemd/system/toolkitrag-backup.service /etc/systemd/system/toolkitrag-backup.timer
  /etc/systemd/system/toolkitrag-healthcheck.service /etc/systemd/system/toolkitrag-healthcheck.timer
  /etc/logrotate.d/toolkitrag}

paths=()
for candidate in $CONFIG_PATHS; do
  if [ -e "$candidate" ]; then paths+=("${candidate#/}"); fi
done
if [ ${#paths[@]} -eq 0 ]; then
  echo "backup-files: nothing to back up (no ToolkitRAG configuration found under /etc)" >&2
  exit 1
fi
umask 077
mkdir -p "$BACKUP_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)
archive="$BACKUP_DIR/config-$stamp.tar.gz"
n=1
while [ -e "$archive" ]; do # a second run within the same second must not overwrite the first
  archive="$BACKUP_DIR/config-$stamp-$n.tar.gz"
  n=$((n + 1))
done
# Written under a temporary name and renamed once complete. Paths relative to / (no "Removing
# leading /" noise); a file this user cannot read fails the backup with tar's message naming it.
partial=$(mktemp "$BACKUP_DIR/.config-incomplete-XXXXXX")
if ! tar -czf "$partial" -C / -- "${paths[@]}"; then
  rm -f -- "$partial"
  echo "backup-files: could not archive the configuration (see tar's message above); no archive written" >&2
  exit 1
fi
mv -- "$partial" "$archive"
# Names carry a UTC timestamp, so name order is age order: newest first, keep the first KEEP.
mapfile -t all < <(printf '%s\n' "$BACKUP_DIR"/config-*.tar.gz | sort -r)
old=("${all[@]:$KEEP}")
if [ ${#old[@]} -gt 0 ]; then rm -f -- "${old[@]}"; fi
echo "Configuration backup written to $archive (${#paths[@]} paths); ${#old[@]} old archive(s) removed."

if [ -n "$BACKUP_POST_HOOK" ]; then
  # The hook is a command line from the root-owned env file, split as a shell would (as
  # manage.py backup does with shlex); the archive goes last.
  if ! eval "$BACKUP_POST_HOOK" '"$archive"'; then
    echo "backup-files: BACKUP_POST_HOOK failed for $archive: it is NOT off-site; check the hook by running it by hand" >&2
    exit 1
  fi
  echo "Post-backup hook ran for $archive."
fi
