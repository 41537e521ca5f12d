#!/usr/bin/env bash
# Restore ToolkitRAG from a backup made by backup-database.sh, all or nothing.
# Usage: sudo restore.sh --list
#        sudo restore.sh BACKUP_DIR [--mode database|files|all] [--yes]
# Order: check the backup while the services still run (a damaged backup, or one that does not
# hold what --mode asks for, changes nothing); ask; stop the worker and the app; restore
# (manage.py restore: safety backup, database and/or files, then migrations, all as one step:
# any failure puts the safety backup back); start the services; validate.
# If the restore fails, the services STAY STOPPED, and this script says what to do.
set -euo pipefail
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
VENV=${VENV:-/srv/toolkitrag/venv}
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
SERVICE_USER=${SERVICE_USER:-toolkitrag}
VALIDATE=${VALIDATE:-$APP_DIR/deploy/validate-production.sh}

usage() {
  echo "usage: $0 --list | $0 BACKUP_DIR [--mode database|files|all] [--yes]" >&2
  exit 2
}
manage() {
  (cd "$APP_DIR" && runuser -u "$SERVICE_USER" -- env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py "$@")
}

if [ $# -lt 1 ]; then usage; fi
if [ "$1" = --list ]; then
  manage restore --list
  exit
fi
backup=$(realpath -m -- "$1")  # manage.py runs from APP_DIR: a relative path must not change meaning
shift
mode=all
yes=0
while [ $# -gt 0 ]; do
  case $1 in
    --mode) if [ $# -lt 2 ]; then usage; fi; mode=$2; shift 2 ;;
    --mode=*) mode=${1#--mode=}; shift ;;
    --yes) yes=1; shift ;;
    *) usage ;;
  esac
done

if ! manage restore "$backup" --mode "$mode" --check; then
  echo "restore: refused before anything changed (see above); the services were not touched." >&2
  exit 1
fi
if [ "$yes" != 1 ]; then
  read -r -p "Stop ToolkitRAG and replace its $mode from $(basename "$backup")? Type 'restore' to go on: " answer
  if [ "$answer" != restore ]; then
    echo "Cancelled; nothing was changed."
    exit 1
  fi
fi

systemctl stop toolkitrag-worker toolkitrag
if ! manage restore "$backup" --mode "$mode" --yes; then
  cat >&2 <<MSG

RESTORE FAILED: the message above says what went wrong and what state things are in.
toolkitrag and toolkitrag-worker are left STOPPED, so that nothing runs on a state you have not checked.
- "The safety backup ... was put back": the previous database and uploaded files are back.
  Fix the cause, then either retry this restore or start the old state again:
  sudo systemctl start toolkitrag toolkitrag-worker
- "Nothing was changed": the same; nothing was touched.
- "Putting the safety backup back ALSO failed": do not start the services. Restore the safety
  backup it names: sudo $0 SAFETY_BACKUP_DIR --mode $mode
Backups available: sudo $0 --list
MSG
  exit 1
fi
systemctl start toolkitrag toolkitrag-worker
if ! "$VALIDATE"; then
  echo "restore: restored and started, but the validation above failed: fix what it lists." >&2
  exit 1
fi
echo "Restore of $mode from $backup done."
