#!/usr/bin/env bash
# Run validate-production.sh and alert a person when it fails (toolkitrag-healthcheck.timer, every
# 5 minutes). Alerts go to ALERT_WEBHOOK_URL (POST, JSON) and/or ALERT_EMAIL (through `mail` or
# `sendmail`, when installed), both read from the env file. One alert per change: a new set of
# failing checks alerts once, the same failures five minutes later do not, and the first green
# run after a failure sends a "recovered" message. The last state is kept in STATE_DIR.
#
# Every 5 minutes it skips HEALTHCHECK_SKIP (default: stream,rate-limit): the streamed-answer
# probe costs a model call and the rate-limit probe a few failed logins; run the full
# validate-production.sh after each change instead. Exits 1 while checks fail.
set -euo pipefail
ENV_FILE=${TOOLKITRAG_ENV_FILE:-/etc/toolkitrag/toolkitrag.env}
env_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" 2>/dev/null | tail -n 1 | sed "s/^[\"']//; s/[\"']\$//"; }
APP_DIR=${APP_DIR:-/srv/toolkitrag/app}
STATE_DIR=${STATE_DIR:-/var/lib/toolkitrag-healthcheck}
ALERT_WEBHOOK_URL=${ALERT_WEBHOOK_URL:-$(env_value ALERT_WEBHOOK_URL)}
ALERT_EMAIL=${ALERT_EMAIL:-$(env_value ALERT_EMAIL)}
HEALTHCHECK_SKIP=${HEALTHCHECK_SKIP:-$(env_value HEALTHCHECK_SKIP)}
HEALTHCHECK_SKIP=${HEALTHCHECK_SKIP:-stream,rate-limit}
# SKIP may be in the env file too (e.g. SKIP=firewall); the SKIP= set below would hide it.
SKIP=${SKIP:-$(env_value SKIP)}
host=$(hostname -f 2>/dev/null || hostname)

mkdir -p "$STATE_DIR"
report=$(SKIP="${SKIP:+$SKIP,}$HEALTHCHECK_SKIP" "$APP_DIR/deploy/validate-production.sh" --json 2>&1) && status=0 || status=$?
# The failing checks, one "name: message" a line; the script's own output if it produced no JSON.
failures=$(printf '%s' "$report" | python3 -c '
import json, sys
try:
    report = json.load(sys.stdin)
except ValueError:
    sys.exit(3)
for check in report["checks"]:
    if check["status"] == "fail":
        print(check["name"] + ": " + check["message"])
') || failures="validate-production.sh did not run (exit $status): $(printf '%s' "$report" | tail -n 3)"
if [ "$status" -ne 0 ] && [ -z "$failures" ]; then failures="validate-production.sh failed (exit $status)"; fi

# What is failing (check names only, so a changed number in a message does not alert again).
now_state=$(printf '%s\n' "$failures" | sed -n 's/^\([^:]*\):.*/\1/p' | sort -u | tr '\n' ' ')
before_state=$(cat "$STATE_DIR/failing" 2>/dev/null || true)

send_alert() { # send_alert SUBJECT BODY
  local sent=0
  if [ -n "$ALERT_WEBHOOK_URL" ]; then
    payload=$(SUBJECT="$1" BODY="$2" HOST="$host" python3 -c '
import json, os
print(json.dumps({"text": os.environ["SUBJECT"] + "\n" + os.environ["BODY"], "subject": os.environ["SUBJECT"],
                  "host": os.environ["HOST"], "failing": [l for l in os.environ["BODY"].splitlines() if l]}))')
    if curl -fsS --max-time 20 -H 'Content-Type: application/json' --data-binary "$payload" "$ALERT_WEBHOOK_URL" >/dev/null; then
      sent=1
    else
      echo "healthcheck: the webhook $ALERT_WEBHOOK_URL did not accept the alert" >&2
    fi
  fi
  if [ -n "$ALERT_EMAIL" ]; then
    if command -v mail >/dev/null; then
      printf '%s\n' "$2" | mail -s "$1" "$ALERT_EMAIL" && sent=1
    elif command -v sendmail >/dev/null; then
      printf 'To: %s\nSubject: %s\n\n%s\n' "$ALERT_EMAIL" "$1" "$2" | sendmail -t && sent=1
    else
      echo "healthcheck: ALERT_EMAIL is set but neither mail nor sendmail is installed (apt install mailutils)" >&2
    fi
  fi
  if [ -z "$ALERT_WEBHOOK_URL" ] && [ -z "$ALERT_EMAIL" ]; then
    echo "healthcheck: no ALERT_WEBHOOK_URL or ALERT_EMAIL in $ENV_FILE: nobody was told" >&2
  fi
  [ "$sent" = 1 ]
}

if [ "$now_state" != "$before_state" ]; then
  if [ -n "$now_state" ]; then
    subject="ToolkitRAG on $host: $(printf '%s\n' "$failures" | grep -c .) check(s) failing"
  else
    subject="ToolkitRAG on $host: recovered, all checks pass"
  fi
  body=${failures:-"Every check passes again (was failing: $before_state)."}
  # Remember the new state only once someone was told, so a failed alert is tried again next run.
  if send_alert "$subject" "$body"; then printf '%s' "$now_state" >"$STATE_DIR/failing"; fi
fi
printf '%s\n' "${failures:-all checks pass}"
[ -z "$now_state" ]
