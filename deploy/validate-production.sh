#!/usr/bin/env bash
# Check a ToolkitRAG production install: one line per check, ✓ pass, ✗ fail (with what to do),
# – skipped (with the reason). Exits 1 if any check fails, 0 otherwise. Run as root: it reads the
# env file and the logs and runs manage.py as the service user.
#
#   validate-production.sh          one line per check, then a summary
#   validate-production.sh --json   one JSON object: {"checks": [{"name", "group", "status",
#                                   "message"}...], "summary": {"passed", "failed", "skipped", "ok"}}
#
# Settings (environment variables; defaults fit the layout in DEPLOY.md):
#   SITE_URL       public URL, e.g. https://toolkit.example.org (default: https:// + first ALLOWED_HOSTS)
#   HTTP_URL       plain-HTTP URL that must redirect to HTTPS (default: http:// + the site's host)
#   SITE_ADDRESS   connect to this address instead of the site's DNS name (check one server behind
#                  a load balancer, or before DNS points at it)
#   CA_BUNDLE      CA certificates to trust for the site (default: the system's)
#   APP_URL        gunicorn's own address (default http://127.0.0.1:8000)
#   APP_DIR VENV TOOLKITRAG_ENV_FILE SERVICE_USER LOG_DIR DATA_DIR (default /srv/toolkitrag/var)
#   BACKUP_TIMERS  backup timers that must be enabled and scheduled (default: every
#                  deploy/toolkitrag-backup*.timer shipped in APP_DIR)
#   BACKUP_MAX_AGE_HOURS (26) / FILES_BACKUP_MAX_AGE_HOURS (BACKUP_FILES_INTERVAL_DAYS x 24 + 26,
#                  i.e. 194 for weekly): age limits of the newest *scheduled* database / uploaded-files
#                  backup, read from their manifests (label "scheduled"; pre-restore and other safety
#                  backups do not count)
#   DISK_MIN_FREE_PERCENT (10), DISK_MIN_FREE_MB (1024), LOG_MAX_MB (500), LOG_ERROR_LINES (2000)
#   PROBE_QUESTION a question the toolkit answers with the chat model (check stream-pieces)
#   LOGIN_PROBES   most login attempts for the rate-limit check (default 2 x RATE_LIMIT_AUTH_REQUESTS + 1;
#                  it stops at the first 429, usually after RATE_LIMIT_AUTH_REQUESTS + 1)
#   SKIP           comma-separated check names or groups to skip where they cannot apply, e.g.
#                  SKIP=firewall or SKIP=stream,rate-limit; each is reported as skipped, never passed.
# Any of these may also be set in the env file (the environment wins).
#
# Side effects, all small and cleaned up where possible: the stream check signs in a dedicated
# probe user (no password, no staff rights; created on first use), asks PROBE_QUESTION once (one
# model call), deletes that conversation and logs the session out. The email check opens one SMTP
# session (and logs in, with EMAIL_URL's user) without sending anything. The rate-limit check sends
# up to LOGIN_PROBES failed logins for random throwaway usernames with a documentation-range client
# address (192.0.2.x) straight to gunicorn: no real user or address is limited or locked, and
# django-axes records those attempts (visible in the admin under Axes).
set -uo pipefail
export LC_ALL=C.UTF-8

ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
env_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" 2>/dev/null | tail -n 1 | sed "s/^[\"']//; s/[\"']\$//"; }
setting() { # setting NAME DEFAULT: the environment, else the env file, else the default
  local value=${!1:-}
  if [ -z "$value" ]; then value=$(env_value "$1"); fi
  printf '%s' "${value:-$2}"
}
APP_DIR=$(setting APP_DIR /srv/toolkitrag/app)
VENV=$(setting VENV /srv/toolkitrag/venv)
SERVICE_USER=$(setting SERVICE_USER toolkitrag)
LOG_DIR=$(setting LOG_DIR /var/log/toolkitrag)
DATA_DIR=$(setting DATA_DIR /srv/toolkitrag/var)
APP_URL=$(setting APP_URL http://127.0.0.1:8000)
SITE_ADDRESS=$(setting SITE_ADDRESS "")
CA_BUNDLE=$(setting CA_BUNDLE "")
BACKUP_MAX_AGE_HOURS=$(setting BACKUP_MAX_AGE_HOURS 26)
files_interval_days=$(setting BACKUP_FILES_INTERVAL_DAYS 7)
FILES_BACKUP_MAX_AGE_HOURS=$(setting FILES_BACKUP_MAX_AGE_HOURS $((files_interval_days * 24 + 26)))
DISK_MIN_FREE_PERCENT=$(setting DISK_MIN_FREE_PERCENT 10)
DISK_MIN_FREE_MB=$(setting DISK_MIN_FREE_MB 1024)
LOG_MAX_MB=$(setting LOG_MAX_MB 500)
LOG_ERROR_LINES=$(setting LOG_ERROR_LINES 2000)
LOGIN_PROBES=$(setting LOGIN_PROBES 0)
PROBE_QUESTION=$(setting PROBE_QUESTION "What does the toolkit say about reviewing the budget?")
SKIP=",$(setting SKIP ""),"
JSON=0
if [ "${1:-}" = --json ]; then JSON=1; elif [ -n "${1:-}" ]; then echo "usage: $0 [--json]" >&2; exit 2; fi

SITE_URL=$(setting SITE_URL "")
if [ -z "$SITE_URL" ]; then
  first_host=$(env_value ALLOWED_HOSTS | cut -d, -f1 | tr -d ' ')
  if [ -n "$first_host" ]; then SITE_URL="https://$first_host"; fi
fi
SITE_URL=${SITE_URL%/}
site_scheme=${SITE_URL%%://*}
site_netloc=${SITE_URL#*://}; site_netloc=${site_netloc%%/*}
site_host=${site_netloc%:*}
site_port=${site_netloc##*:}; if [ "$site_port" = "$site_netloc" ]; then site_port=443; fi
HTTP_URL=$(setting HTTP_URL "http://$site_host")
http_netloc=${HTTP_URL#*://}; http_netloc=${http_netloc%%/*}
http_port=${http_netloc##*:}; if [ "$http_port" = "$http_netloc" ]; then http_port=80; fi

# --- recording results ------------------------------------------------------------------------
names=() groups=() statuses=() messages=()
current_name="" current_group=""
json_escape() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/\\t}; s=${s//$'\n'/\\n}; s=${s//$'\r'/}; printf '%s' "$s"; }
record() {
  names+=("$current_name") groups+=("$current_group") statuses+=("$1") messages+=("$2")
  if [ "$JSON" = 0 ]; then
    case $1 in
      pass) printf '\xe2\x9c\x93 %s: %s\n' "$current_name" "$2" ;;
      fail) printf '\xe2\x9c\x97 %s: %s\n' "$current_name" "$2" ;;
      skip) printf '\xe2\x80\x93 %s (skipped: %s)\n' "$current_name" "$2" ;;
    esac
  fi
}
pass() { record pass "$1"; }
fail() { record fail "$1"; }
# want GROUP NAME: start a check; false (and recorded as skipped) when SKIP names it or its group.
want() {
  current_group=$1 current_name=$2
  if [[ "$SKIP" == *",$1,"* || "$SKIP" == *",$2,"* ]]; then record skip "SKIP=${SKIP:1:-1}"; return 1; fi
}
group_wanted() { [[ "$SKIP" != *",$1,"* ]]; }

# --- helpers ------------------------------------------------------------------------------------
as_service_user() {
  if [ "$(id -un)" = "$SERVICE_USER" ]; then "$@"; else runuser -u "$SERVICE_USER" -- "$@"; fi
}
manage() { (cd "$APP_DIR" && as_service_user env TOOLKITRAG_ENV_FILE="$ENV_FILE" "$VENV/bin/python" manage.py "$@"); }
site_curl() { # curl for SITE_URL/HTTP_URL: connect to SITE_ADDRESS, trust CA_BUNDLE
  local args=(-s --max-time 15)
  if [ -n "$SITE_ADDRESS" ]; then args+=(--resolve "$site_host:$site_port:$SITE_ADDRESS" --resolve "$site_host:$http_port:$SITE_ADDRESS"); fi
  if [ -n "$CA_BUNDLE" ]; then args+=(--cacert "$CA_BUNDLE"); fi
  curl "${args[@]}" "$@"
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

# The app's own view of its settings, database, cache and backups (manage.py production_facts),
# read once; every check below that needs it fails with the reason if it could not run.
facts="" facts_error="" facts_loaded=0
load_facts() {
  [ "$facts_loaded" = 1 ] && return
  facts_loaded=1
  local args=(production_facts --backup-max-age-hours "$BACKUP_MAX_AGE_HOURS" --files-backup-max-age-hours "$FILES_BACKUP_MAX_AGE_HOURS")
  if group_wanted stream && [[ "$SKIP" != *",stream-pieces,"* ]]; then args+=(--probe-session); fi
  local err; err=$(mktemp)
  if ! facts=$(manage "${args[@]}" 2>"$err"); then
    # The exception's own line and what follows (ENV=prod lists each problem), not the traceback.
    facts_error="manage.py could not run with $ENV_FILE: $(awk '/^[A-Za-z_][A-Za-z0-9_.]*: /{buf=""} {buf=buf $0 " "} END{print buf}' "$err" | tr -s ' ' | cut -c1-600)"
    facts=""
  fi
  rm -f "$err"
}
fact() { load_facts; printf '%s\n' "$facts" | sed -n "s/^$1\t//p" | head -n 1; }
# needs_facts: false (and the check failed with the reason) when manage.py could not run.
needs_facts() { load_facts; if [ -n "$facts_error" ]; then fail "$facts_error"; return 1; fi; }

# --- services and timers (systemd) ----------------------------------------------------------------
if ! command -v systemctl >/dev/null; then systemctl() { return 1; }; no_systemd=1; else no_systemd=0; fi
unit_check() { # unit_check UNIT active|enabled
  if want services "$1-$2"; then
    if [ "$no_systemd" = 1 ]; then fail "systemctl not found: is this the server? (or SKIP=services)"; return; fi
    if [ "$2" = active ]; then
      if systemctl is-active --quiet "$1"; then pass "$1 is running"
      else fail "$1 is $(systemctl is-active "$1" 2>/dev/null): systemctl start $1; journalctl -u $1 -n 50 says why it stopped"; fi
    else
      if systemctl is-enabled --quiet "$1"; then pass "$1 starts at boot"
      else fail "$1 is $(systemctl is-enabled "$1" 2>/dev/null || echo not enabled) at boot: systemctl enable $1"; fi
    fi
  fi
}
for unit in toolkitrag toolkitrag-worker; do
  unit_check "$unit" active
  unit_check "$unit" enabled
done
BACKUP_TIMERS=$(setting BACKUP_TIMERS "")
if [ -z "$BACKUP_TIMERS" ]; then
  BACKUP_TIMERS=$(find "$APP_DIR/deploy" -maxdepth 1 -name 'toolkitrag-backup*.timer' -printf '%f\n' 2>/dev/null | sort | tr '\n' ' ')
  BACKUP_TIMERS=${BACKUP_TIMERS:-toolkitrag-backup.timer}
fi
for timer in ${BACKUP_TIMERS//,/ } toolkitrag-healthcheck.timer; do
  unit_check "$timer" enabled
  if want services "$timer-scheduled"; then
    next=$(systemctl show "$timer" -p NextElapseUSecRealtime --value 2>/dev/null)
    next_epoch=$(date -d "$next" +%s 2>/dev/null || echo 0)
    if [ "$no_systemd" = 1 ]; then fail "systemctl not found: is this the server? (or SKIP=services)"
    elif ! systemctl is-active --quiet "$timer"; then fail "$timer is not active, nothing will run it: systemctl enable --now $timer"
    elif [ "$next_epoch" -gt "$(date +%s)" ]; then pass "$timer next runs $next"
    else fail "$timer has no run scheduled in the future ('${next:-none}'): check OnCalendar=, then systemctl restart $timer"; fi
  fi
done

# --- the env file -----------------------------------------------------------------------------------
if want env env-file-mode; then
  if [ ! -f "$ENV_FILE" ]; then fail "$ENV_FILE does not exist (DEPLOY.md §6)"
  else
    mode=$(stat -c '%a' "$ENV_FILE")
    if [ "$mode" = 640 ] || [ "$mode" = 600 ]; then pass "$ENV_FILE has mode $mode"
    else fail "$ENV_FILE has mode $mode, secrets inside: chmod 640 $ENV_FILE"; fi
  fi
fi
if want env env-file-owner; then
  owner=$(stat -c '%U:%G' "$ENV_FILE" 2>/dev/null)
  if [ "$owner" = "root:$SERVICE_USER" ] || [ "$owner" = root:root ]; then pass "$ENV_FILE is owned by $owner"
  else fail "$ENV_FILE is owned by ${owner:-nobody}, so the app could change its own settings: chown root:$SERVICE_USER $ENV_FILE"; fi
fi

# --- the running configuration, as the app reads it ------------------------------------------------
if want settings env-prod && needs_facts; then
  if [ "$(fact env)" = prod ]; then pass "ENV=prod"; else fail "ENV is '$(fact env)': set ENV=prod in $ENV_FILE and restart toolkitrag"; fi
fi
if want settings debug-off && needs_facts; then
  if [ "$(fact debug)" = false ]; then pass "DEBUG is off"; else fail "DEBUG is on (tracebacks shown to anyone): remove DEBUG from $ENV_FILE or set DEBUG=false"; fi
fi
if want settings secret-key-length && needs_facts; then
  length=$(fact secret_key_length)
  if [ "${length:-0}" -ge 50 ]; then pass "SECRET_KEY has $length characters"
  else fail "SECRET_KEY has ${length:-0} characters: set a random one of 50+ (DEPLOY.md §6) and restart"; fi
fi
if want settings allowed-hosts && needs_facts; then
  hosts=",$(fact allowed_hosts),"
  if [ -z "$site_host" ]; then fail "no site URL: set SITE_URL or ALLOWED_HOSTS"
  elif [[ "$hosts" == *",*,"* ]]; then fail "ALLOWED_HOSTS contains '*': name the site's host ($site_host) only"
  elif [[ "$hosts" == *",$site_host,"* ]]; then pass "ALLOWED_HOSTS names $site_host"
  else fail "ALLOWED_HOSTS (${hosts:1:-1}) does not name $site_host: add it in $ENV_FILE"; fi
fi
if want settings csrf-origins && needs_facts; then
  origin="$site_scheme://$site_netloc"; origins=",$(fact csrf_trusted_origins),"
  if [[ "$origins" == *",$origin,"* ]]; then pass "CSRF_TRUSTED_ORIGINS has $origin"
  else fail "CSRF_TRUSTED_ORIGINS (${origins:1:-1}) lacks $origin: forms will fail with 403; set CSRF_TRUSTED_ORIGINS=$origin"; fi
fi
if want settings cookies-secure && needs_facts; then
  if [ "$(fact cookies_secure)" = true ]; then pass "session and CSRF cookies are HTTPS-only"
  else fail "cookies may travel over plain HTTP: remove COOKIE_SECURE=false from $ENV_FILE"; fi
fi
if want settings trusted-proxy && needs_facts; then
  if [ "$(fact trusted_proxy_count)" -ge 1 ] 2>/dev/null; then pass "TRUSTED_PROXY_COUNT=$(fact trusted_proxy_count): clients are told apart by the proxy's X-Real-IP"
  else fail "TRUSTED_PROXY_COUNT=0 behind a proxy: every user shares the proxy's address for rate limits; set TRUSTED_PROXY_COUNT=1"; fi
fi
if want settings rate-limits-enabled && needs_facts; then
  if [ "$(fact rate_limit_enabled)" = true ]; then pass "rate limits are enabled"
  else fail "RATE_LIMIT_ENABLED is false: remove it from $ENV_FILE (logins can be guessed at full speed)"; fi
fi

# --- single sign-on: only when OIDC_ISSUER is set (no lines at all without it) -----------------------
OIDC_ISSUER=$(setting OIDC_ISSUER ""); OIDC_ISSUER=${OIDC_ISSUER%/}
if [ -n "$OIDC_ISSUER" ] && want sso sso-client-secret; then
  secret_file=$(setting OIDC_CLIENT_SECRET_FILE "")
  if [ -z "$secret_file" ]; then
    if [ -n "$(setting OIDC_CLIENT_SECRET "")" ]; then pass "OIDC_CLIENT_SECRET is set (OIDC_CLIENT_SECRET_FILE would keep it out of the environment)"
    else fail "OIDC_ISSUER is set but OIDC_CLIENT_SECRET_FILE is not: save the client secret from the identity provider in a file (chmod 640, group $SERVICE_USER) and name it (DEPLOY.md, Single sign-on)"; fi
  elif ! as_service_user test -r "$secret_file"; then fail "$secret_file (OIDC_CLIENT_SECRET_FILE) is missing or unreadable for $SERVICE_USER: SSO sign-ins cannot start; chown root:$SERVICE_USER $secret_file; chmod 640 $secret_file"
  elif ! as_service_user test -s "$secret_file"; then fail "$secret_file (OIDC_CLIENT_SECRET_FILE) is empty: paste the client secret from the identity provider into it"
  elif [ "$(stat -c '%a' "$secret_file" | cut -c3)" != 0 ]; then fail "$secret_file has mode $(stat -c '%a' "$secret_file"): anyone on this machine can read the client secret; chmod 640 $secret_file"
  else pass "the client secret in $secret_file is readable by $SERVICE_USER only"; fi
fi
if [ -n "$OIDC_ISSUER" ] && want sso sso-discovery; then
  discovery=$(curl -s --max-time 10 "$OIDC_ISSUER/.well-known/openid-configuration")
  issuer_pattern=$(printf '%s' "$OIDC_ISSUER" | sed 's/[][\.*^$]/\\&/g')
  if printf '%s' "$discovery" | grep -Eq "\"issuer\"[[:space:]]*:[[:space:]]*\"$issuer_pattern/?\""; then pass "the identity provider at $OIDC_ISSUER answers its discovery document"
  elif [ -z "$discovery" ]; then fail "$OIDC_ISSUER/.well-known/openid-configuration did not answer: SSO sign-ins show an error page (passwords still work unless OIDC_SSO_ONLY); check OIDC_ISSUER and this server's way out"
  else fail "$OIDC_ISSUER/.well-known/openid-configuration does not name $OIDC_ISSUER as its issuer: copy OIDC_ISSUER exactly from the provider's 'issuer' (${discovery:0:120})"; fi
fi

# --- PostgreSQL and Redis, reached with the app's own configuration ---------------------------------
if want database postgres-reachable && needs_facts; then
  database=$(fact database)
  if [[ "$database" == ok* ]]; then pass "PostgreSQL answers: $database"
  else fail "PostgreSQL $database: systemctl status postgresql; check DATABASE_URL in $ENV_FILE"; fi
fi
if want database pgvector-installed && needs_facts; then
  vector=$(fact pgvector)
  if [ -n "$vector" ] && [ "$vector" != missing ]; then pass "pgvector $vector is installed"
  else fail "pgvector is ${vector:-unknown (no database)}: as a superuser, CREATE EXTENSION vector; in the database (DEPLOY.md §3)"; fi
fi
if want database migrations-applied && needs_facts; then
  pending=$(fact pending_migrations)
  if [ "$pending" = 0 ]; then pass "all migrations are applied"
  else fail "migrations pending (${pending:-unknown: no database}): toolkitrag-manage migrate"; fi
fi
if want redis redis-reachable && needs_facts; then
  cache_state=$(fact cache)
  if [ "$cache_state" = ok ]; then pass "Redis answers (rate limits are shared and enforced)"
  else fail "Redis $cache_state: rate limits are OFF meanwhile; systemctl status redis-server, check CACHE_URL"; fi
fi

# --- e-mail: sign-up links, invitations and password resets ------------------------------------------
if want email email-server && needs_facts; then
  mail_state=$(fact email)
  if [[ "$mail_state" == ok* ]]; then pass "the mail server accepts a login (${mail_state#ok: }): sign-up, invitation and reset mails can go out"
  else fail "e-mail $mail_state: set EMAIL_URL=smtp+tls://USER:PASSWORD@HOST:587 in $ENV_FILE (DEPLOY.md, E-mail) and check the server, user and password"; fi
fi

# --- gunicorn directly --------------------------------------------------------------------------------
if want http app-health; then
  body=$(curl -s --max-time 10 "$APP_URL/health")
  if [[ "$body" == *'"status": "ok"'* ]]; then pass "/health answers at $APP_URL"
  else fail "/health at $APP_URL answered '${body:0:120}': systemctl status toolkitrag; tail $LOG_DIR/app.log"; fi
fi
ready=$(curl -s --max-time 15 "$APP_URL/ready")
if want http app-ready; then
  if [[ "$ready" == *'"status": "ok"'* ]]; then pass "/ready is ok at $APP_URL"
  else fail "/ready at $APP_URL: '${ready:0:200}': fix each reason listed (DEPLOY.md §16)"; fi
fi
if want http ready-no-warnings; then
  if [[ "$ready" == *'"status": "ok"'* && "$ready" != *'"warnings"'* ]]; then pass "/ready reports no warnings"
  elif [[ "$ready" == *'"warnings"'* ]]; then fail "/ready warns: ${ready:0:200}"
  else fail "/ready did not answer ok, so its warnings are unknown: '${ready:0:120}'"; fi
fi

# --- through the proxy --------------------------------------------------------------------------------
if want proxy proxy-health; then
  code=$(site_curl -k -o /dev/null -w '%{http_code}' "$SITE_URL/health")
  if [ "$code" = 200 ]; then pass "/health answers 200 through the proxy at $SITE_URL"
  else fail "/health through $SITE_URL answered '$code': systemctl status nginx (or caddy); check its upstream port"; fi
fi
if want proxy proxy-ready; then
  body=$(site_curl -k "$SITE_URL/ready")
  if [[ "$body" == *'"status": "ok"'* ]]; then pass "/ready is ok through the proxy"
  else fail "/ready through $SITE_URL answered '${body:0:160}': see the proxy's error log"; fi
fi
if want proxy http-redirect; then
  answer=$(site_curl -o /dev/null -w '%{http_code} %{redirect_url}' "$HTTP_URL/")
  if [[ "$answer" =~ ^30[178]\ https://$site_host ]]; then pass "$HTTP_URL redirects to ${answer#* }"
  else fail "$HTTP_URL/ answered '$answer' instead of a redirect to https://$site_host: use the port-80 server block of deploy/nginx.conf"; fi
fi

# --- TLS ------------------------------------------------------------------------------------------------
if want tls tls-expiry; then
  if [ "$site_scheme" != https ]; then fail "$SITE_URL is not HTTPS: serve it through Caddy or Nginx with a certificate (DEPLOY.md §9)"
  else
    pem=$(echo | timeout 15 openssl s_client -connect "${SITE_ADDRESS:-$site_host}:$site_port" -servername "$site_host" 2>/dev/null | openssl x509 2>/dev/null)
    expiry=$(printf '%s\n' "$pem" | openssl x509 -noout -enddate 2>/dev/null | cut -d= -f2)
    if [ -z "$expiry" ]; then fail "no TLS certificate read from $site_host:$site_port: is the proxy listening?"
    elif printf '%s\n' "$pem" | openssl x509 -noout -checkend $((14 * 86400)) >/dev/null; then pass "certificate of $site_host valid until $expiry"
    else fail "certificate of $site_host expires $expiry (in under 14 days): certbot renew (or check Caddy's log), then reload the proxy"; fi
  fi
fi
if want tls tls-trust; then
  error=$(site_curl -o /dev/null -S "$SITE_URL/health" 2>&1)
  if [ -z "$error" ]; then pass "certificate chain and host name verify for $site_host"
  else fail "TLS does not verify: ${error#curl: }: install the full chain (fullchain.pem) for $site_host"; fi
fi

# --- security headers through the proxy, each exactly once ------------------------------------------------
headers=""
# The home page, not /auth/login: nginx limits /auth/ to 10 requests a minute, and back-to-back runs
# (restore.sh validates, then the operator) would trip it and fail on the proxy's own 429.
if group_wanted headers; then headers=$(site_curl -k -o /dev/null -D - "$SITE_URL/" | tr -d '\r'); fi
header_check() { # header_check NAME Header-Name REGEX-for-the-value
  if want headers "$1"; then
    local lines count
    lines=$(printf '%s\n' "$headers" | grep -i "^$2:" || true)
    count=$(printf '%s' "$lines" | grep -c . || true)
    if [ "$count" = 1 ] && [[ "${lines#*: }" =~ $3 ]]; then pass "$2: ${lines#*: }"
    elif [ "$count" = 0 ]; then fail "$2 missing through the proxy: use the add_header lines of deploy/nginx.conf (or the Caddyfile's header block)"
    elif [ "$count" -gt 1 ]; then fail "$2 sent $count times (app and proxy both): hide the app's copy (proxy_hide_header $2)"
    else fail "$2 is '${lines#*: }', expected /$3/: see deploy/nginx.conf"; fi
  fi
}
header_check header-hsts Strict-Transport-Security 'max-age=(1[5-9][0-9]{6}|[2-9][0-9]{7}|[0-9]{9,})'
header_check header-csp Content-Security-Policy "default-src 'self'"
header_check header-content-type-options X-Content-Type-Options '^nosniff$'
header_check header-frame-options X-Frame-Options '^(DENY|SAMEORIGIN)$'
header_check header-referrer-policy Referrer-Policy '^(same-origin|strict-origin|strict-origin-when-cross-origin|no-referrer)$'

# --- a streamed answer through the proxy ------------------------------------------------------------------
if want stream stream-pieces && needs_facts; then
  session=$(fact probe_session)
  if [ -z "$session" ]; then fail "no probe session: $(fact probe_session_error) (is the database migrated?)"
  else
    connect=(); if [ -n "$SITE_ADDRESS" ]; then connect=(--connect "$SITE_ADDRESS"); fi
    if out=$(PROBE_SESSION=$session "$VENV/bin/python" "$APP_DIR/deploy/stream-probe.py" "$SITE_URL" "${connect[@]}" --question "$PROBE_QUESTION" 2>&1); then pass "$out"
    else fail "$out; a buffering proxy holds answers back: proxy_buffering off (nginx) / flush_interval -1 (Caddy) for /api/rag/answer/stream"; fi
  fi
fi

# --- rate limit: throwaway usernames from a documentation address (192.0.2.x), straight to gunicorn -------
if want rate-limit rate-limit-429; then
  probes=$LOGIN_PROBES
  # Limits count in fixed one-minute windows; if a window ends mid-probe, its count starts again.
  # 2 x limit + 1 attempts (it stops at the first 429) put limit + 1 in one window whatever happens.
  if [ "$probes" = 0 ]; then probes=$(( $(env_value RATE_LIMIT_AUTH_REQUESTS | grep -E '^[0-9]+$' || echo 5) * 2 + 1 )); fi
  address="192.0.2.$((RANDOM % 254 + 1))" csrf=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  codes=""
  load_facts
  if [ -z "$facts_error" ] && [ "$(fact trusted_proxy_count)" = 0 ]; then
    # The app would count these attempts against 127.0.0.1, the address every user shares then.
    probes=0
  fi
  for _ in $(seq "$probes"); do
    codes="$codes $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $site_netloc" -H "X-Real-IP: $address" \
      -H "X-Forwarded-Proto: https" -H "Referer: $SITE_URL/" -H "Cookie: csrftoken=$csrf" \
      --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "username=probe-$RANDOM$RANDOM" \
      --data-urlencode "password=not-a-password" "$APP_URL/auth/login")"
    [[ "$codes" == *429 ]] && break
  done
  if [[ "$codes" == *429 ]]; then pass "logins are limited: 429 after$codes"
  elif [ "$probes" = 0 ]; then fail "not probed: with TRUSTED_PROXY_COUNT=0 the app counts every user as 127.0.0.1, and the probe would lock them all out for a minute; set TRUSTED_PROXY_COUNT=1"
  else fail "no 429 after $probes login attempts from one address (codes:$codes): rate limits are off; check RATE_LIMIT_ENABLED and Redis"; fi
fi

# --- static files -------------------------------------------------------------------------------------------
if want static static-cache; then
  asset=$(site_curl -k "$SITE_URL/" | grep -oE '/static/[^"'"'"' >]+\.(css|js)' | head -n 1)
  cache_control=""
  if [ -n "$asset" ]; then cache_control=$(site_curl -k -o /dev/null -D - "$SITE_URL$asset" | tr -d '\r' | sed -n 's/^[Cc]ache-[Cc]ontrol: //p' | head -n 1); fi
  max_age=$(printf '%s' "$cache_control" | sed -nE 's/.*max-age=([0-9]+).*/\1/p')
  if [ -z "$asset" ]; then fail "no /static/ file linked from $SITE_URL/: run collectstatic (DEPLOY.md §7)"
  elif [ "${max_age:-0}" -ge 86400 ]; then pass "$asset is cached ($cache_control)"
  else fail "$asset has Cache-Control '${cache_control}': run collectstatic with ENV=prod (hashed names, whitenoise)"; fi
fi

# --- folders the app writes -----------------------------------------------------------------------------------
for kind in media backup; do
  if want folders "$kind-writable" && needs_facts; then
    if [ "$kind" = media ]; then dir=$(fact media_root); else dir=$(fact backup_dir); fi
    if as_service_user test -w "$dir" -a -d "$dir" 2>/dev/null; then pass "$dir is writable by $SERVICE_USER"
    else fail "$dir is not a folder $SERVICE_USER can write: install -d -o $SERVICE_USER -g $SERVICE_USER -m 750 $dir"; fi
  fi
done

# --- disk space and logs ----------------------------------------------------------------------------------------
disk_check() { # disk_check NAME FOLDER
  if want disk "$1"; then
    local line avail_kb size_kb free_percent
    line=$(df -Pk "$2" 2>/dev/null | tail -n 1)
    size_kb=$(echo "$line" | awk '{print $2}') avail_kb=$(echo "$line" | awk '{print $4}')
    if [ -z "$line" ] || [ -z "$size_kb" ]; then fail "cannot read the free space of $2: does it exist?"; return; fi
    free_percent=$(( avail_kb * 100 / (size_kb > 0 ? size_kb : 1) ))
    if [ "$free_percent" -ge "$DISK_MIN_FREE_PERCENT" ] && [ $((avail_kb / 1024)) -ge "$DISK_MIN_FREE_MB" ]; then
      pass "$2: $((avail_kb / 1024)) MB free ($free_percent %)"
    else
      fail "$2: only $((avail_kb / 1024)) MB free ($free_percent %; need $DISK_MIN_FREE_PERCENT % and $DISK_MIN_FREE_MB MB): remove old backups or grow the disk"
    fi
  fi
}
disk_check disk-data "$DATA_DIR"
disk_check disk-logs "$LOG_DIR"
if want logs log-size; then
  bytes=$(du -sb --apparent-size "$LOG_DIR" 2>/dev/null | cut -f1)
  if [ -z "$bytes" ]; then fail "$LOG_DIR does not exist: the services create it (LogsDirectory=)"
  elif [ $((bytes / 1048576)) -le "$LOG_MAX_MB" ]; then pass "$LOG_DIR holds $((bytes / 1048576)) MB of logs"
  else fail "$LOG_DIR holds $((bytes / 1048576)) MB of logs (limit $LOG_MAX_MB): is logrotate installed (DEPLOY.md §8)? logrotate -f /etc/logrotate.d/toolkitrag"; fi
fi
if want logs log-errors; then
  if [ ! -f "$LOG_DIR/app.log" ]; then fail "$LOG_DIR/app.log does not exist: is toolkitrag running with deploy/toolkitrag.service?"
  else
    errors=$(tail -n "$LOG_ERROR_LINES" "$LOG_DIR/app.log" | grep -cE '"level": ?"(ERROR|CRITICAL)"|^\S+ \S+ (ERROR|CRITICAL) ' || true)
    if [ "$errors" -eq 0 ]; then pass "no ERROR lines in the last $LOG_ERROR_LINES lines of app.log"
    else fail "$errors ERROR line(s) in the last $LOG_ERROR_LINES lines of $LOG_DIR/app.log: read them (grep ERROR), fix the cause; then logrotate -f /etc/logrotate.d/toolkitrag starts this check afresh (the lines stay in app.log.1)"; fi
  fi
fi

# --- backups: the newest *scheduled* ones, from their manifests --------------------------------------------------
if want backups backup-database-recent && needs_facts; then
  state=$(fact backup_database)
  if [[ "$state" == ok:* ]]; then pass "database backed up by the schedule: ${state#ok: }"
  else fail "no scheduled database backup in the last $BACKUP_MAX_AGE_HOURS h (${state}); safety backups do not count: systemctl status toolkitrag-backup.service"; fi
fi
if want backups backup-files-recent && needs_facts; then
  state=$(fact backup_files)
  if [[ "$state" == ok:* ]]; then pass "uploaded files backed up by the schedule: ${state#ok: }"
  else fail "no scheduled backup of the uploaded files in the last $FILES_BACKUP_MAX_AGE_HOURS h (${state}): check the backup timers"; fi
fi
if want backups backup-checksums && needs_facts; then
  state=$(fact backup_checksums)
  if [[ "$state" == ok:* ]]; then pass "newest scheduled backup matches its manifest: ${state#ok: }"
  else fail "newest scheduled backup is damaged or missing (${state}): run a backup now (systemctl start toolkitrag-backup) and check the disk"; fi
fi

# --- firewall ------------------------------------------------------------------------------------------------------
rules=""
if group_wanted firewall && command -v ufw >/dev/null; then rules=$(ufw status verbose 2>/dev/null); fi
if want firewall firewall-active; then
  if ! command -v ufw >/dev/null; then fail "ufw is not installed: DEPLOY.md §10"
  elif [[ "$rules" == *"Status: active"* ]]; then pass "ufw is active"
  else fail "ufw is not active: ufw allow OpenSSH && ufw allow 80/tcp && ufw allow 443/tcp && ufw --force enable"; fi
fi
if want firewall firewall-rules; then
  extra=$(printf '%s\n' "$rules" | grep -E 'ALLOW IN|ALLOW ' | grep -vE '^(22|80|443)(/tcp)?( \(v6\))? |^(OpenSSH|Nginx Full|Nginx HTTP|Nginx HTTPS|WWW|WWW Full|WWW Secure)( \(v6\))? ' || true)
  if [[ "$rules" != *"Status: active"* ]]; then fail "ufw is not active, so no incoming traffic is filtered"
  elif [[ "$rules" != *"deny (incoming)"* ]]; then fail "ufw lets incoming traffic in by default: ufw default deny incoming"
  elif [ -n "$extra" ]; then fail "ufw allows more than SSH/HTTP/HTTPS: $(printf '%s' "$extra" | tr -s ' ' | tr '\n' ';')"
  else pass "ufw denies incoming traffic except SSH, HTTP and HTTPS"; fi
fi

# --- summary -----------------------------------------------------------------------------------------------------
passed=0 failed=0 skipped=0
for status in "${statuses[@]}"; do
  case $status in pass) passed=$((passed + 1)) ;; fail) failed=$((failed + 1)) ;; skip) skipped=$((skipped + 1)) ;; esac
done
if [ "$JSON" = 1 ]; then
  printf '{"checks": ['
  for i in "${!names[@]}"; do
    [ "$i" -gt 0 ] && printf ', '
    printf '{"name": "%s", "group": "%s", "status": "%s", "message": "%s"}' \
      "$(json_escape "${names[$i]}")" "${groups[$i]}" "${statuses[$i]}" "$(json_escape "${messages[$i]}")"
  done
  printf '], "summary": {"passed": %d, "failed": %d, "skipped": %d, "ok": %s}}\n' \
    "$passed" "$failed" "$skipped" "$([ "$failed" = 0 ] && echo true || echo false)"
else
  echo "$passed passed, $failed failed, $skipped skipped."
fi
[ "$failed" = 0 ]
