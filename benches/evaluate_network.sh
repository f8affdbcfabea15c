#!/usr/bin/env bash
# `heatkpi evaluate` of a month of a 1,000-substation utility with one-minute data, all five
# standards: wall time and peak memory of the whole command (the process, reading the store and
# printing the results), N runs (default 3) plus one `--store` run that also writes the results
# and events.
#
# The utility is the demo's plant and network with the substations `heatkpi simulate
# --substations N` generates (printed as configuration by `--print-substations`) in place of the
# demo's 24 and their Modbus devices. Its history (about 10 GB at 1,000 substations) is written
# once into HEATKPI_BENCH_DB if that file does not exist yet (about 25 minutes on 2 cores):
#   HEATKPI_BENCH_DB=/tmp/netkpi/month.db bash benches/evaluate_network.sh [N]
# HEATKPI_BENCH_SUBSTATIONS (default 1000) and HEATKPI_BENCH_MONTH (default 2026-01).
set -euo pipefail
runs="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
db="${HEATKPI_BENCH_DB:?set HEATKPI_BENCH_DB to the store (written if missing)}"
subs="${HEATKPI_BENCH_SUBSTATIONS:-1000}"
month="${HEATKPI_BENCH_MONTH:-2026-01}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
(cd "$root" && cargo build --release -q)
bin="$root/target/release/heatkpi"
export HEATKPI_LOG=error

if [ ! -f "$db" ]; then
  mkdir -p "$(dirname "$db")"
  HEATKPI__STORE__PATH="$db" "$bin" -c "$root/config/demo.toml" simulate --history "$month" \
    --substations "$subs"
fi

# The demo configuration without its substations and their heat meters, plus the generated ones.
cp -r "$root/config/templates" "$dir/templates"
python3 - "$root/config/demo.toml" >"$dir/scale.toml" <<'PY'
import re, sys
blocks, cur = [], []
for line in open(sys.argv[1]):
    if re.match(r"\s*\[", line) and cur:
        blocks.append(cur)
        cur = []
    cur.append(line)
blocks.append(cur)
for b in blocks:
    head = b[0].strip()
    body = "".join(b)
    # Substations are generated below; availability keeps its contract defaults (the demo's
    # [kpi.availability] is tuned for its 60x live clock).
    if head in ("[[substation]]", "[kpi.availability]"):
        continue
    if head == "[[modbus.device]]" and re.search(r'^asset = "ss-', body, re.M):
        continue
    sys.stdout.write(body)
PY
"$bin" -c "$root/config/demo.toml" simulate --substations "$subs" --print-substations \
  >>"$dir/scale.toml"
export HEATKPI__STORE__PATH="$db"
"$bin" check-config "$dir/scale.toml" >/dev/null

measure() {
  /usr/bin/time -f "%e %M %U %S" -o "$dir/time" "$bin" -c "$dir/scale.toml" evaluate \
    --period "$month" --json "$@" >"$dir/results.json"
  read -r wall kib user sys <"$dir/time"
  python3 - "$dir/results.json" "$wall" "$kib" "$user" "$sys" "$*" <<'PY'
import json, sys
path, wall, kib, user, sys_s, extra = sys.argv[1:]
rs = json.load(open(path))
standards = sorted({r["details"].get("standard", "?") for r in rs})
print(f"evaluate --period {extra or '(no --store)'}: {float(wall):.2f} s wall, "
      f"{int(kib) / 1024:.0f} MiB peak RSS, {float(user):.2f} s user + {float(sys_s):.2f} s sys CPU; "
      f"{len(rs)} results, standards: {', '.join(standards)}")
PY
}

for _ in $(seq "$runs"); do
  measure
done
measure --store
uptime
