#!/bin/bash
# Backfill throughput, archive netCDF vs SWPC JSON, the same year of 1-minute X-ray data
# (docs/BENCHMARKS.md, "Backfill: archive files vs SWPC JSON"). Builds a year (2023) by tiling
# the 30-day sample, writes it as NCEI avg1m files (tools/gen_goes_avg1m.py, needs h5py and
# numpy) and as daily SWPC JSON folders, then runs `flare-plus backfill` over each, alternating,
# RUNS times, each against a fresh private nats-server (JetStream in a temp dir).
#
# usage: tools/bench_archive_year.sh [FLARE_PLUS_BINARY] [RUNS]   (from the repository root)
set -euo pipefail
bin=${1:-target/release/flare-plus}
runs=${2:-3}
repo=$(pwd)
work=$(mktemp -d /tmp/flare-bench-year.XXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/nc" "$work/json" "$work/months"
python3 - "$repo" "$work" <<'PY'
import collections, datetime as dt, gzip, json, os, sys
repo, work = sys.argv[1], sys.argv[2]
x = json.load(gzip.open(f"{repo}/fixtures/sample-30d/xrays.json.gz"))
by = collections.defaultdict(list)
for r in x:
    by[r["time_tag"][:10]].append(r)
src0, start = dt.date(2024, 5, 1), dt.date(2023, 1, 1)
months = collections.defaultdict(list)
for i in range(365):
    d = start + dt.timedelta(days=i)
    s = (src0 + dt.timedelta(days=i % 30)).isoformat()
    recs = [dict(r, time_tag=d.isoformat() + r["time_tag"][10:]) for r in by[s]]
    os.makedirs(f"{work}/json/{d}", exist_ok=True)
    json.dump(recs, open(f"{work}/json/{d}/xrays.json", "w"))
    months[d.month].extend(recs)
for m, recs in months.items():
    json.dump(recs, open(f"{work}/months/{m:02d}.json", "w"))
PY
for f in "$work"/months/*.json; do
  python3 tools/gen_goes_avg1m.py --swpc-json "$f" --out-dir "$work/nc" >/dev/null
done
du -sh "$work/nc" "$work/json"
port=$((42000 + RANDOM % 1000))
one() {
  local d; d=$(mktemp -d "$work/run.XXXX")
  /usr/sbin/nats-server -js -p "$port" -sd "$d/js" -a 127.0.0.1 >"$d/nats.log" 2>&1 &
  local npid=$!
  sleep 1
  (cd "$d" && FLARE__NATS__URL="nats://127.0.0.1:$port" FLARE__NATS__EMBEDDED=false \
    FLARE__DATABASE__URL="sqlite://$d/unused.db" FLARE__HTTP__LISTEN=127.0.0.1:0 RUST_LOG=warn \
    "$repo/$bin" backfill --from 2023-01-01 --to 2023-12-31 --source "$work/$1" 2>&1 |
    grep -E "^backfilled")
  kill "$npid"; wait "$npid" 2>/dev/null || true
}
for _ in $(seq "$runs"); do one nc; one json; done
