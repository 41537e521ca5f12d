#!/usr/bin/env bash
# Back up ToolkitRAG: database (pg_dump) + uploaded files + manifest, then prune old backups and
# run BACKUP_POST_HOOK (off-site copy) if set. Run daily by toolkitrag-backup.timer or cron.
# Usage: backup-database.sh [label]
set -euo pipefail
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
VENV=${VENV:-/srv/toolkitrag/venv}
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
SERVICE_USER=${SERVICE_USER:-toolkitrag}

label=${1:-}
args=()
if [ -n "$label" ]; then args+=(--label "$label"); fi

cd "$APP_DIR"
if [ "$(id -un)" = "$SERVICE_USER" ] || [ "${RUN_AS_CURRENT_USER:-0}" = 1 ]; then
  TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py backup "${args[@]}"
else
  runuser -u "$SERVICE_USER" -- env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py backup "${args[@]}"
fi
