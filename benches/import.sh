#!/usr/bin/env bash
# `heatkpi import` of an N-line line-protocol file (1,000 series, one-minute steps) next to
# sqlite3's own `.import` of the same rows into a bare WITHOUT ROWID table, in the same run.
#   bash benches/import.sh [N]          (default 1,000,000; needs the sqlite3 shell)
set -euo pipefail
n="${1:-1000000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell (apt-get install sqlite3)"; exit 1; }
python3 - "$n" "$dir" <<'PY'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
t0 = 1790805600000  # 2026-10-01T00:00+02:00
with open(f"{d}/data.lp", "w") as lp, open(f"{d}/data.csv", "w") as csv:
    for i in range(n):
        s, step = i % 1000, i // 1000
        ts = t0 + step * 60000
        v = 70.0 + (s % 17) * 0.5 + (step % 60) * 0.01
        lp.write(f"substation,asset=ss-{s:04d} supply_temp={v:.2f} {ts * 1000000}\n")
        csv.write(f"ss-{s:04d}.supply_temp,{ts},{v:.2f}\n")
PY
(cd "$root" && cargo build --release -q)
printf '[store]\npath = "import.db"\n[ingest]\nbatch_size = 10000\n' > "$dir/heatkpi.toml"
t0=$(date +%s.%N)
"$root/target/release/heatkpi" -c "$dir/heatkpi.toml" import "$dir/data.lp" >/dev/null
t1=$(date +%s.%N)
sqlite3 "$dir/bare.db" <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE sample(series TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series, ts)) WITHOUT ROWID;
SQL
t2=$(date +%s.%N)
sqlite3 "$dir/bare.db" -cmd ".mode csv" ".import $dir/data.csv sample"
t3=$(date +%s.%N)
python3 - "$n" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
n = int(sys.argv[1]); t0, t1, t2, t3 = map(float, sys.argv[2:])
h, s = n / (t1 - t0), n / (t3 - t2)
print(f"heatkpi import: {n} lines in {t1 - t0:.2f} s = {h:,.0f} points/s")
print(f"sqlite3 .import: {n} rows in {t3 - t2:.2f} s = {s:,.0f} rows/s")
print(f"ratio heatkpi / sqlite3 = {h / s:.2f}")
PY
