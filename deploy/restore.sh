#!/usr/bin/env bash
# Restore ToolkitRAG from a backup directory made by backup-database.sh. Stops the app and the
# worker, checks the backup, takes a safety backup, restores database and uploaded files, runs
# migrations, starts the services again and validates the result.
# Usage: sudo restore.sh /srv/toolkitrag/var/backups/toolkitrag-YYYYmmdd-HHMMSS [--yes]
set -euo pipefail
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
VENV=${VENV:-/srv/toolkitrag/venv}
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
SERVICE_USER=${SERVICE_USER:-toolkitrag}

if [ $# -lt 1 ]; then
  echo "usage: $0 BACKUP_DIR [--yes]" >&2
  exit 2
fi
backup=$1
shift
manage() {
  cd "$APP_DIR"
  runuser -u "$SERVICE_USER" -- env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py "$@"
}

systemctl stop toolkitrag-worker toolkitrag
trap 'systemctl start toolkitrag toolkitrag-worker' EXIT
manage restore "$backup" "$@"
trap - EXIT
systemctl start toolkitrag toolkitrag-worker
"$APP_DIR/deploy/validate-production.sh"
