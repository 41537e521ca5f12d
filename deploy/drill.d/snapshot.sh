#!/usr/bin/env bash
# What a restore must bring back, in a form `diff` can compare: per table of the app's database
# its row count and a hash of its rows (read as the PostgreSQL superuser), and per uploaded file
# its sha256, owner and mode.
# Usage: snapshot.sh database PG_BIN_DIR SOCKET_DIR PORT > FILE
#        snapshot.sh media MEDIA_ROOT > FILE
set -euo pipefail
case ${1:-} in
  database)
    pgbin=$2 socket=$3 port=$4
    # One SELECT per table, run by \gexec: "<table> rows=<count> md5=<hash of its rows in order>".
    runuser -u postgres -- "$pgbin/psql" -h "$socket" -p "$port" -d toolkitrag -v ON_ERROR_STOP=1 -tA <<'SQL'
SELECT format($q$SELECT %L || ' rows=' || count(*) || ' md5=' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM public.%I t$q$, table_name, table_name)
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name
\gexec
SQL
    ;;
  media)
    cd "$2"
    find . -type f -printf '%P\0' | sort -z | xargs -0r sha256sum
    find . -mindepth 1 -printf '%P %u:%g %m\n' | sort
    ;;
  *)
    echo "usage: $0 database PG_BIN_DIR SOCKET_DIR PORT | $0 media MEDIA_ROOT" >&2
    exit 2
    ;;
esac
