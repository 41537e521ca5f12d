#!/usr/bin/env bash
# Check a ToolkitRAG production install: one line per check, ✓ pass, ✗ fail, – skipped (with
# the reason). Exits 1 if any check fails. Run as root (it reads the env file and the logs).
#
# Settings (environment variables, defaults for the layout in DEPLOY.md):
#   SITE_URL       public URL, e.g. https://toolkit.example.org (default: from ALLOWED_HOSTS)
#   APP_URL        gunicorn's own address (default http://127.0.0.1:8000)
#   APP_DIR VENV TOOLKITRAG_ENV_FILE SERVICE_USER LOG_DIR
#   SKIP           comma-separated checks to skip on a box where they cannot apply,
#                  e.g. SKIP=services,firewall (each is reported as skipped, never as passed)
set -uo pipefail
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
VENV=${VENV:-/srv/toolkitrag/venv}
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
SERVICE_USER=${SERVICE_USER:-toolkitrag}
LOG_DIR=${LOG_DIR:-/var/log/toolkitrag}
APP_URL=${APP_URL:-http://127.0.0.1:8000}
SKIP=",${SKIP:-},"
failures=0

pass() { printf '\xe2\x9c\x93 %s\n' "$1"; }
fail() { printf '\xe2\x9c\x97 %s\n' "$1"; failures=$((failures + 1)); }
skip() { printf '\xe2\x80\x93 %s (skipped: %s)\n' "$1" "$2"; }
skipped() { [[ "$SKIP" == *",$1,"* ]]; }
env_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" 2>/dev/null | tail -n 1 | sed "s/^[\"']//; s/[\"']\$//"; }
http_status() { curl -ks -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

# --- services ---------------------------------------------------------------------------
if skipped services; then
  skip "services toolkitrag and toolkitrag-worker are running" "SKIP"
elif ! command -v systemctl >/dev/null; then
  skip "services toolkitrag and toolkitrag-worker are running" "no systemd"
else
  for unit in toolkitrag toolkitrag-worker; do
    if systemctl is-active --quiet "$unit"; then pass "service $unit is running"; else fail "service $unit is not running (systemctl status $unit)"; fi
  done
fi

# --- environment file -------------------------------------------------------------------
if [ ! -f "$ENV_FILE" ]; then
  fail "environment file $ENV_FILE exists"
else
  mode=$(stat -c '%a' "$ENV_FILE")
  owner=$(stat -c '%U:%G' "$ENV_FILE")
  if [ "$mode" = 640 ] || [ "$mode" = 600 ]; then pass "$ENV_FILE has mode $mode ($owner)"; else fail "$ENV_FILE has mode $mode: chmod 640 it (secrets inside)"; fi
  if [ "$(env_value ENV)" = prod ]; then pass "ENV=prod"; else fail "ENV is '$(env_value ENV)', not prod"; fi
  key=$(env_value SECRET_KEY)
  if [ -z "$key" ] && [ -n "$(env_value SECRET_KEY_FILE)" ]; then key=$(cat "$(env_value SECRET_KEY_FILE)" 2>/dev/null); fi
  if [ ${#key} -ge 50 ]; then pass "SECRET_KEY is ${#key} characters"; else fail "SECRET_KEY is ${#key} characters (at least 50 needed)"; fi
fi

# --- health -------------------------------------------------------------------------------
status=$(http_status "$APP_URL/health")
if [ "$status" = 200 ]; then pass "/health answers 200 at $APP_URL"; else fail "/health answered '$status' at $APP_URL"; fi
ready=$(curl -ks --max-time 10 "$APP_URL/ready")
if [[ "$ready" == *'"status": "ok"'* ]]; then pass "/ready: database, pgvector and migrations are fine"; else fail "/ready: $ready"; fi

# --- public URL, HTTPS and certificate ----------------------------------------------------
SITE_URL=${SITE_URL:-}
if [ -z "$SITE_URL" ]; then
  host=$(env_value ALLOWED_HOSTS | cut -d, -f1)
  if [ -n "$host" ]; then SITE_URL="https://$host"; fi
fi
if [ -z "$SITE_URL" ]; then
  fail "public URL known (set SITE_URL or ALLOWED_HOSTS)"
else
  status=$(http_status "$SITE_URL/health")
  if [ "$status" = 200 ]; then pass "/health answers 200 through the proxy at $SITE_URL"; else fail "/health through the proxy at $SITE_URL answered '$status'"; fi
  host=$(printf '%s' "$SITE_URL" | sed -E 's#^[a-z]+://##; s#[:/].*$##')
  port=$(printf '%s' "$SITE_URL" | sed -nE 's#^[a-z]+://[^:/]+:([0-9]+).*#\1#p')
  if [[ "$host" == localhost || "$host" == 127.* || "$host" == "[::1]" ]]; then
    skip "HTTPS certificate is valid for 14+ days" "$host is a local test address"
  elif [[ "$SITE_URL" != https://* ]]; then
    fail "$SITE_URL is not HTTPS"
  else
    expiry=$(echo | openssl s_client -connect "$host:${port:-443}" -servername "$host" 2>/dev/null | openssl x509 -noout -enddate 2>/dev/null | cut -d= -f2)
    if [ -z "$expiry" ]; then
      fail "could not read the TLS certificate of $host"
    elif [ $(( ($(date -d "$expiry" +%s) - $(date +%s)) / 86400 )) -ge 14 ]; then
      if curl -s -o /dev/null --max-time 10 "$SITE_URL/health"; then pass "HTTPS certificate of $host is trusted and valid until $expiry"; else fail "HTTPS certificate of $host is not trusted"; fi
    else
      fail "HTTPS certificate of $host expires soon ($expiry)"
    fi
  fi
fi

# --- writable folders, tables --------------------------------------------------------------
manage() { (cd "$APP_DIR" && runuser -u "$SERVICE_USER" -- env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py "$@"); }
media=$(env_value MEDIA_ROOT); media=${media:-$APP_DIR/var/media}
backups=$(env_value BACKUP_DIR); backups=${backups:-$APP_DIR/var/backups}
for dir in "$media" "$backups"; do
  if runuser -u "$SERVICE_USER" -- test -w "$dir" 2>/dev/null; then pass "$dir is writable by $SERVICE_USER"; else fail "$dir is not writable by $SERVICE_USER"; fi
done
tables=$(manage shell -c "from django.db import connection; print(' '.join(connection.introspection.table_names()))" 2>/dev/null | tail -n 1)
missing=""
for table in toolkit_documents toolkit_chunks chat_logs users; do
  [[ " $tables " == *" $table "* ]] || missing="$missing $table"
done
if [ -z "$missing" ]; then pass "required tables exist"; else fail "required tables missing:$missing (run manage.py migrate)"; fi

# --- logs -----------------------------------------------------------------------------------
if [ -f "$LOG_DIR/app.log" ]; then
  errors=$(tail -n 2000 "$LOG_DIR/app.log" | grep -c '"level": "ERROR"\|"level": "CRITICAL"' || true)
  if [ "$errors" -eq 0 ]; then pass "no errors in the last 2000 lines of $LOG_DIR/app.log"; else fail "$errors error line(s) in the last 2000 lines of $LOG_DIR/app.log"; fi
else
  fail "$LOG_DIR/app.log does not exist"
fi

# --- backups --------------------------------------------------------------------------------
newest=$(find "$backups" -maxdepth 2 -name manifest.json -mmin -1560 2>/dev/null | head -n 1)
if skipped backups; then
  skip "a backup from the last 26 hours" "SKIP"
elif [ -n "$newest" ]; then
  pass "recent backup: $(dirname "$newest")"
else
  fail "no backup in $backups from the last 26 hours (systemctl status toolkitrag-backup.timer)"
fi

# --- firewall -------------------------------------------------------------------------------
if skipped firewall; then
  skip "firewall allows only SSH, HTTP and HTTPS" "SKIP"
elif ! command -v ufw >/dev/null; then
  fail "ufw is not installed (see DEPLOY.md, firewall)"
else
  rules=$(ufw status 2>/dev/null)
  if [[ "$rules" != *"Status: active"* ]]; then
    fail "ufw is not active"
  elif echo "$rules" | grep -E 'ALLOW' | grep -vqE '^(22|80|443|OpenSSH|Nginx|WWW)[^0-9]'; then
    fail "ufw allows more than SSH/HTTP/HTTPS: $(echo "$rules" | grep ALLOW | tr -s ' ' | tr '\n' ';')"
  else
    pass "ufw is active and allows only SSH, HTTP and HTTPS"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed."
  exit 1
fi
echo "All checks passed."
