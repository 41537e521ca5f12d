#!/usr/bin/env bash
# Back up the server's own configuration, which the app backup does not hold: the environment
# file, the proxy configuration and the systemd units. Writes BACKUP_DIR/config-<time>.tar.gz
# (mode 600: it contains secrets) and keeps the last KEEP archives.
set -euo pipefail
BACKUP_DIR=${BACKUP_DIR:-/srv/toolkitrag/var/backups}
KEEP=${KEEP:-14}
paths=()
for candidate in /etc/toolkitrag /etc/caddy/Caddyfile /etc/nginx/conf.d/toolkitrag.conf \
  /etc/systemd/system/toolkitrag.service /etc/systemd/system/toolkitrag-worker.service \
  /etc/systemd/system/toolkitrag-backup.service /etc/systemd/system/toolkitrag-backup.timer \
  /etc/logrotate.d/toolkitrag; do
  if [ -e "$candidate" ]; then paths+=("$candidate"); fi
done
if [ ${#paths[@]} -eq 0 ]; then
  echo "backup-files: nothing to back up (no ToolkitRAG configuration found under /etc)" >&2
  exit 1
fi
mkdir -p "$BACKUP_DIR"
archive="$BACKUP_DIR/config-$(date -u +%Y%m%d-%H%M%S).tar.gz"
umask 077
tar -czf "$archive" "${paths[@]}" 2>/dev/null
# Names carry a UTC timestamp, so name order is age order: newest first, keep the first KEEP.
mapfile -t all < <(printf '%s\n' "$BACKUP_DIR"/config-*.tar.gz | sort -r)
old=("${all[@]:$KEEP}")
if [ ${#old[@]} -gt 0 ]; then rm -f -- "${old[@]}"; fi
echo "Configuration backup written to $archive (${#paths[@]} paths); ${#old[@]} old archive(s) removed."
