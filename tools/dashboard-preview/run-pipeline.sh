#!/usr/bin/env bash
# A real pipeline run for the dashboard preview, shaped like docker-compose.yml but on
# localhost: nats-server with deploy/nats/nats.conf (JetStream + per-role users), PostgreSQL
# with deploy/postgres/10-grafana-reader.sh, Prometheus with deploy/prometheus.yml (targets
# made local by local-prometheus.mjs), and the roles as separate processes of the release
# binary: ingest replaying the 30-day sample, WRITERS writers, FEATURES feature workers.
#
#   tools/dashboard-preview/run-pipeline.sh start WORKDIR [SPEED]   # default 3000x (~15 min)
#   tools/dashboard-preview/run-pipeline.sh stop WORKDIR
#
# `start` returns once the replay is finished and stored; WORKDIR/run.env then holds
# RUN_FROM/RUN_TO (unix seconds) for server.mjs. Needs: target/release/flare-plus, nats-server,
# prometheus, PostgreSQL server binaries (initdb, pg_ctl) and psql; as root, PostgreSQL runs as
# the `postgres` user.
set -euo pipefail

cmd=${1:?start|stop}
work=$(realpath -m "${2:?WORKDIR}")
speed=${3:-3000x}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
WRITERS=${WRITERS:-2}
FEATURES=${FEATURES:-2}
PG_PORT=55432 NATS_PORT=14222 NATS_MON=18222 PROM_PORT=19090

stop() {
  [ -f "$work/pids" ] || return 0
  # Roles first (they drain), then Prometheus and NATS; only the processes this script started.
  tac "$work/pids" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "stopping $name ($pid)"
      kill "$pid" || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
  done
  rm -f "$work/pids"
  if [ -d "$work/pg/data" ]; then
    as_pg "pg_ctl -D '$work/pg/data' stop -m fast" || true
  fi
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

spawn() { # NAME COMMAND...: runs in the background, logs to WORKDIR/logs/NAME.log
  local name=$1; shift
  nohup "$@" >"$work/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$work/pids"
}

role() { # NAME ROLE PORT [ARGS...]
  local name=$1 role=$2 port=$3; shift 3
  spawn "$name" env FLARE__NATS__URL="nats://127.0.0.1:$NATS_PORT" FLARE__NATS__EMBEDDED=false \
    FLARE__NATS__USER="$role" FLARE__NATS__PASSWORD="$role-dev" \
    FLARE__DATABASE__URL="postgres://flare:flare@127.0.0.1:$PG_PORT/flare" \
    FLARE__HTTP__LISTEN="127.0.0.1:$port" ${WORKER_ID:+FLARE__FEATURES__WORKER_ID=$WORKER_ID} \
    "$repo/target/release/flare-plus" run --role "$role" "$@"
}

wait_http() { for _ in $(seq 1 60); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 1; done; echo "no answer from $1" >&2; return 1; }

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop WORKDIR [SPEED]" >&2; exit 2; }
[ -x "$repo/target/release/flare-plus" ] || { echo "build first: cargo build --release" >&2; exit 1; }
mkdir -p "$work/logs"
: >"$work/pids"

# PostgreSQL: owner `flare` (the compose POSTGRES_USER), then the compose init script.
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "initdb -D '$work/pg/data' -U postgres --auth=trust >'$work/pg/initdb.log'"
as_pg "pg_ctl -D '$work/pg/data' -o '-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1' -l '$work/pg/pg.log' -w start"
psql -h 127.0.0.1 -p $PG_PORT -U postgres -qc "CREATE ROLE flare LOGIN SUPERUSER PASSWORD 'flare'" \
  -c "CREATE DATABASE flare OWNER flare"
POSTGRES_USER=flare POSTGRES_DB=flare GRAFANA_DB_PASSWORD=grafana-dev PGHOST=127.0.0.1 PGPORT=$PG_PORT \
  PGPASSWORD=flare sh "$repo/deploy/postgres/10-grafana-reader.sh"

# NATS: deploy/nats/nats.conf with local ports and store; the same permissions file.
mkdir -p "$work/nats"
sed -e "s#store_dir: /data/jetstream#store_dir: $work/nats/js#" -e "s/^port: 4222/port: $NATS_PORT/" \
  -e "s/^http_port: 8222/http_port: $NATS_MON/" "$repo/deploy/nats/nats.conf" >"$work/nats/nats.conf"
cp "$repo/deploy/nats/permissions.conf" "$work/nats/"
export NATS_INGEST_PASSWORD=ingest-dev NATS_WRITER_PASSWORD=writer-dev \
  NATS_FEATURES_PASSWORD=features-dev NATS_READER_PASSWORD=reader-dev
spawn nats nats-server -c "$work/nats/nats.conf"
wait_http "http://127.0.0.1:$NATS_MON/healthz?js-enabled-only=true"

# The roles: writers and feature workers first, then the replay.
targets_w=() targets_f=()
for i in $(seq 1 "$WRITERS"); do
  port=$((19463 + 2 * i)); role "writer$i" writer $port; targets_w+=("127.0.0.1:$port")
  # The first process creates the streams; processes creating them at the same instant can
  # fail with "subjects overlap with an existing stream" (compose's restart policy covers it).
  [ "$i" = 1 ] && wait_http "http://127.0.0.1:$port/readyz"
done
for i in $(seq 1 "$FEATURES"); do
  port=$((19464 + 2 * i))
  if [ "$FEATURES" -gt 1 ]; then WORKER_ID="worker$i" role "features$i" features $port
  else role "features$i" features $port; fi
  targets_f+=("127.0.0.1:$port")
done
(IFS=,; node "$here/local-prometheus.mjs" ingest=127.0.0.1:19464 "writer=${targets_w[*]}" \
  "features=${targets_f[*]}" prometheus=127.0.0.1:$PROM_PORT)
spawn prometheus prometheus --config.file="$here/out/prometheus.local.yml" \
  --storage.tsdb.path="$work/prometheus" --web.listen-address=127.0.0.1:$PROM_PORT
for t in "${targets_w[@]}" "${targets_f[@]}"; do wait_http "http://$t/readyz"; done
wait_http "http://127.0.0.1:$PROM_PORT/-/ready"
sleep 15 # a couple of idle scrapes before the load

from=$(date -u +%s)
role ingest ingest 19464 --replay "$repo/fixtures/sample-30d" --speed "$speed"
ingest_pid=$(awk '$1 == "ingest" { print $2 }' "$work/pids")
echo "replaying at $speed (log: $work/logs/ingest.log)"
while kill -0 "$ingest_pid" 2>/dev/null; do sleep 5; done
# Stored and final: every OBS consumer (writer, feature workers) has nothing pending or
# unacked, as the NATS monitoring endpoint reports.
obs_backlog() {
  curl -fsS "http://127.0.0.1:$NATS_MON/jsz?consumers=true" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let n = 0;
      for (const a of JSON.parse(s).account_details ?? [])
        for (const st of a.stream_detail ?? [])
          if (st.name === "OBS") for (const c of st.consumer_detail ?? []) n += c.num_pending + c.num_ack_pending;
      console.log(n);
    });'
}
for _ in $(seq 1 120); do
  [ "$(obs_backlog)" = 0 ] && break
  sleep 5
done
sleep 60 # a last minute of scrapes after the load
to=$(date -u +%s)
printf 'RUN_FROM=%s\nRUN_TO=%s\n' "$from" "$to" >"$work/run.env"
grep -h "Permissions Violation" "$work/logs/nats.log" && echo "NATS permission violations above" >&2 || echo "no NATS permission violation"
echo "done: $(cat "$work/run.env" | tr '\n' ' ')"
