#!/usr/bin/env bash
# Starts a real Unleash (unleash-server 8.2.0 from npm) backed by a real
# PostgreSQL (Debian) on loopback, for the rollback exporter's Unleash test.
#
#   exports=$(bash .ci/unleash.sh) && eval "$exports"   # sets UNLEASH_URL, UNLEASH_TOKEN, OTELCOL_RELEASE_TEST_POSTGRES
#   bash .ci/unleash.sh stop                             # stops both servers
#
# (Assign first, then eval: `eval "$(...)"` alone hides a failure from set -e.)
#
# Progress goes to stderr; stdout carries only the export lines. Idempotent: a
# second run finds the servers up and only prints the exports. Bounded:
# PostgreSQL's start gives up after 60 s, Unleash's after UNLEASH_WAIT seconds
# (default 180), installs after 10 minutes, each printing the logs' tails. Everything lives under UNLEASH_HOME (default
# /tmp/otelcol-release-unleash), never in the repository.
#
#   PostgreSQL  127.0.0.1:55432, trust auth, database "unleash"
#   Unleash     127.0.0.1:4242, admin token below (UNLEASH_TOKEN)
set -euo pipefail

HOME_DIR="${UNLEASH_HOME:-/tmp/otelcol-release-unleash}"
PG_PORT="${UNLEASH_PG_PORT:-55432}"
PORT="${UNLEASH_PORT:-4242}"
WAIT="${UNLEASH_WAIT:-180}"
VERSION="8.2.0"
URL="http://127.0.0.1:${PORT}"
# An admin API token Unleash creates at start (authentication.initApiTokens);
# only good on loopback, for tests.
TOKEN="${UNLEASH_ADMIN_TOKEN:-*:*.otelcol-release-test-admin-token}"

say() { echo "unleash.sh: $*" >&2; }
fail() {
	say "FAILED: $*"
	for f in "$HOME_DIR/pg.log" "$HOME_DIR/unleash.log" "$HOME_DIR/npm.log"; do
		[ -s "$f" ] && { echo "----- tail of $f" >&2; tail -n 40 "$f" >&2; }
	done
	exit 1
}
start_ts=$(date +%s)
exports() {
	say "ready after $(($(date +%s) - start_ts)) s: $URL"
	echo "export UNLEASH_URL=$URL"
	echo "export UNLEASH_TOKEN='$TOKEN'"
	# The same PostgreSQL is the shared release state of the gateway-fleet
	# tests; each test works in a schema of its own.
	echo "export OTELCOL_RELEASE_TEST_POSTGRES='postgres://postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable'"
}
healthy() { curl -fsS --max-time 3 "$URL/health" 2>/dev/null | grep -q '"GOOD"'; }
token_ok() { curl -fsS --max-time 3 -o /dev/null -H "Authorization: $TOKEN" "$URL/api/admin/projects/default/features" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
	if [ -f "$HOME_DIR/unleash.pid" ]; then
		pid=$(cat "$HOME_DIR/unleash.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$HOME_DIR/unleash.pid"
		say "stopped Unleash"
	fi
	if [ -f "$HOME_DIR/pgdata/postmaster.pid" ]; then
		bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
		if [ "$(id -u)" = 0 ]; then
			su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$HOME_DIR/pgdata' -m fast stop" >&2 || true
		else
			"$bin/pg_ctl" -D "$HOME_DIR/pgdata" -m fast stop >&2 || true
		fi
	fi
	exit 0
fi

command -v curl >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq curl >&2; }

if healthy && token_ok; then
	say "Unleash already up on $URL"
	exports
	exit 0
fi
if healthy; then
	fail "something on $URL answers /health but refuses the admin token; stop it (or set UNLEASH_PORT)"
fi

mkdir -p "$HOME_DIR"
chmod 755 "$HOME_DIR"

# ---- PostgreSQL ------------------------------------------------------------
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/sh -c "$*"
	else
		sh -c "$*"
	fi
}
pg_up() { "$(pgbin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres 2>/dev/null; }

if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/initdb" ]; then
	say "installing PostgreSQL (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get update -qq >&2 || fail "apt-get update"
	timeout 600 apt-get install -y -qq postgresql >&2 || fail "apt-get install postgresql"
fi
BIN="$(pgbin)"
if pg_up; then
	say "PostgreSQL already up on 127.0.0.1:$PG_PORT"
else
	PGDATA="$HOME_DIR/pgdata"
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		say "initialising a PostgreSQL cluster in $PGDATA"
		rm -rf "$PGDATA"
		mkdir -p "$PGDATA"
		[ "$(id -u)" = 0 ] && chown postgres "$PGDATA" "$HOME_DIR"
		as_pg "'$BIN/initdb' -D '$PGDATA' -A trust -U postgres" >"$HOME_DIR/initdb.log" 2>&1 ||
			{ cat "$HOME_DIR/initdb.log" >&2; fail "initdb"; }
	fi
	[ "$(id -u)" = 0 ] && chown postgres "$HOME_DIR"
	say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
	# A postmaster.pid left by a killed server is replaced by postgres itself
	# (its pid is gone), so just start.
	as_pg "'$BIN/pg_ctl' -D '$PGDATA' -w -t 60 -l '$HOME_DIR/pg.log' \
		-o \"-p $PG_PORT -k '$HOME_DIR' -c listen_addresses=127.0.0.1\" start" >&2 ||
		fail "PostgreSQL did not start"
fi
psql_() { "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -tA "$@"; }
if [ "$(psql_ -c "select 1 from pg_database where datname = 'unleash'")" != 1 ]; then
	psql_ -c 'create database unleash' >&2 || fail "create database unleash"
fi

# ---- Unleash -----------------------------------------------------------------
# unleash-server 8.2.0 declares node >=22 but runs on the machine's Node 20
# (npm only warns).
command -v node >/dev/null && command -v npm >/dev/null || fail "needs Node.js and npm on PATH"
APP="$HOME_DIR/app"
mkdir -p "$APP"
installed=$(node -p "try { require('$APP/node_modules/unleash-server/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [ "$installed" != "$VERSION" ]; then
	say "installing unleash-server@$VERSION with npm into $APP"
	[ -f "$APP/package.json" ] || echo '{"name":"otelcol-release-unleash","private":true}' >"$APP/package.json"
	timeout 600 npm install --prefix "$APP" --no-audit --no-fund --omit=dev --loglevel=error \
		"unleash-server@$VERSION" >"$HOME_DIR/npm.log" 2>&1 || fail "npm install unleash-server@$VERSION"
fi

cat >"$APP/start.js" <<EOF
// Written by .ci/unleash.sh.
require('fs').writeFileSync('${HOME_DIR}/unleash.pid', String(process.pid));
require('unleash-server').start({
  db: { host: '127.0.0.1', port: ${PG_PORT}, user: 'postgres', password: '', database: 'unleash', ssl: false },
  server: { host: '127.0.0.1', port: ${PORT} },
  authentication: {
    initApiTokens: [{ environment: '*', project: '*', secret: '${TOKEN}', type: 'admin', tokenName: 'otelcol-release-admin' }],
  },
}).catch((err) => { console.error(err); process.exit(1); });
EOF

if [ -f "$HOME_DIR/unleash.pid" ] && kill -0 "$(cat "$HOME_DIR/unleash.pid")" 2>/dev/null; then
	say "Unleash is starting already (pid $(cat "$HOME_DIR/unleash.pid"))"
else
	say "starting Unleash on $URL"
	rm -f "$HOME_DIR/unleash.pid"
	# start.js writes its own pid (setsid may fork, so $! is not it).
	(cd "$APP" && exec env NODE_ENV=production setsid nohup node start.js >"$HOME_DIR/unleash.log" 2>&1 </dev/null) &
fi
deadline=$(($(date +%s) + WAIT))
until healthy; do
	if [ -f "$HOME_DIR/unleash.pid" ] && ! kill -0 "$(cat "$HOME_DIR/unleash.pid")" 2>/dev/null; then
		fail "Unleash exited"
	fi
	[ "$(date +%s)" -lt "$deadline" ] || fail "Unleash did not answer GET /health with GOOD within ${WAIT}s"
	sleep 1
done
until token_ok; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "Unleash refuses the admin token"
	sleep 1
done
exports
