#!/usr/bin/env bash
# Back up ToolkitRAG (manage.py backup): the database and/or the uploaded files, with a manifest;
# then prune old backups and run BACKUP_POST_HOOK (off-site copy) if set. toolkitrag-backup.service
# runs `backup-database.sh scheduled auto` daily: the database every day, the uploaded files too
# every BACKUP_FILES_INTERVAL_DAYS.
# Usage: backup-database.sh [label] [mode]     mode: all (default), database, files or auto
#   e.g. backup-database.sh pre-upgrade        (the label is kept as given in the manifest)
set -euo pipefail
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
VENV=${VENV:-/srv/toolkitrag/venv}
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
SERVICE_USER=${SERVICE_USER:-toolkitrag}

label=${1:-}
mode=${2:-all}
args=(--mode "$mode")
if [ -n "$label" ]; then args+=(--label "$label"); fi

cd "$APP_DIR"
if [ "$(id -un)" = "$SERVICE_USER" ] || [ "${RUN_AS_CURRENT_USER:-0}" = 1 ]; then
  TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py backup "${args[@]}"
else
  runuser -u "$SERVICE_USER" -- env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py backup "${args[@]}"
fi
