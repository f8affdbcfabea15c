#!/usr/bin/env bash
# `heatkpi evaluate --period 2026-10` wall time for a month of 2 sources, 5 units and 2 stacks
# with 1-minute CEMS data (benches/evaluate-5-units.toml: the demo plus a fourth boiler).
# Simulates October 2026 (and 1 November, for the month-end counter readings) once into a
# temporary SQLite store, then times the whole command N times (default 3): best and median.
#   bash benches/evaluate.sh [N]
set -euo pipefail
runs="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
(cd "$root" && cargo build --release -q)
bin="$root/target/release/heatkpi"
cfg="$root/benches/evaluate-5-units.toml"
export HEATKPI__STORE__PATH="$dir/bench.db" HEATKPI_LOG=error
"$bin" -c "$cfg" simulate --history 2026-10 --months 2 --days 32 | head -1
"$bin" -c "$cfg" evaluate --period 2026-10 --json >"$dir/results.json"
python3 - "$dir/results.json" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))
units = sorted({r["asset"] for r in rs if r["kpi"] in ("boiler_efficiency", "chp_total_efficiency")})
stacks = sorted({r["asset"] for r in rs if r["kpi"].startswith("emission_")})
print(f"{len(rs)} results; units {', '.join(units)}; stacks {', '.join(stacks)}")
PY
times=()
for _ in $(seq "$runs"); do
  t0=$(date +%s.%N)
  "$bin" -c "$cfg" evaluate --period 2026-10 >/dev/null
  t1=$(date +%s.%N)
  times+=("$(python3 -c "print($t1 - $t0)")")
done
python3 - "${times[@]}" <<'PY'
import statistics, sys
t = sorted(float(x) for x in sys.argv[1:])
print(f"evaluate --period 2026-10: best {t[0]:.3f} s, median {statistics.median(t):.3f} s of {len(t)} runs (target <= 1 s)")
PY
uptime
