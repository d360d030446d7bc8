"""Cold and warm start of `knowrithm up` until /api/health is 200 (database, Redis and a live
worker all answer).

    python bench/start_time.py [--warm-runs 3]

Cold: an empty data directory (initdb, migrations, seeds). Warm: the same directory again.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import Platform


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        platform = Platform(data_dir)
        cold = platform.start()
        stop = platform.stop()
        print(f"cold start to healthy: {cold:6.2f} s   (stop took {stop:.2f} s)")
        warm = []
        for i in range(args.warm_runs):
            platform = Platform(data_dir)
            warm.append(platform.start())
            stop = platform.stop()
            print(f"warm start {i + 1} to healthy: {warm[-1]:6.2f} s   (stop took {stop:.2f} s)")
        print(f"\nsummary: cold {cold:.2f} s; warm median {statistics.median(warm):.2f} s "
              f"(min {min(warm):.2f}, max {max(warm):.2f}, n={len(warm)})")


if __name__ == "__main__":
    main()
