"""``make bench``: run every benchmark in this folder, one after another.

Each benchmark measures Kara against a peer in the same run and reports ratios (never
absolute times), writing ``benchmarks/results/<name>.json``. Exit code 1 if any target was
missed or a benchmark failed, after running them all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        result = subprocess.run([sys.executable, str(script)], check=False)
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nmissed targets or failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nall benchmarks met their targets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
