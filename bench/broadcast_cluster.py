"""``python -m bench.broadcast_cluster [--count N] [--rounds R]``: one Redis against a 3-master
Redis Cluster, through ``Broadcast``, between two processes.

A publisher process publishes ``count`` messages of 32 B (each publish awaited) and a
subscriber process counts them; the rate is messages delivered per second from the first
publish to the last message received. One redis-server and one cluster (Debian's
redis-server, started here on loopback ports in a temp dir) are measured in interleaved rounds;
the table gives medians and the cluster/one-Redis ratio. The figure with real clients (1,000
clients over 100 rooms, 2 workers behind one port) is ``python -m bench.broadcast_scale``.
"""

# The table prints × on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.broadcast import _redis_once, _redis_server, log
from tests.broadcast._cluster import LocalCluster, cluster_tools_missing


def run(count: int, rounds: int) -> str:
    missing = cluster_tools_missing()
    if missing:
        raise SystemExit(f"bench.broadcast_cluster: {missing}")
    rates: dict[str, list[float]] = {"one Redis": [], "3-master cluster": []}
    with (
        _redis_server() as redis_url,
        tempfile.TemporaryDirectory() as directory,
        LocalCluster(Path(directory), masters=3) as cluster,
    ):
        urls = {"one Redis": redis_url, "3-master cluster": cluster.url}
        for round_ in range(rounds):
            for label, url in urls.items():
                rates[label].append(_redis_once(url, "trio_ws", count)[1])
                log(f"round {round_ + 1}: {label} {rates[label][-1]:,.0f}/s")
    medians = {label: statistics.median(values) for label, values in rates.items()}
    ratio = medians["3-master cluster"] / medians["one Redis"]
    return "\n".join(
        [
            f"### One Redis and a 3-master cluster (two processes; median of {rounds} "
            f"interleaved rounds of {count:,} messages of 32 B, each publish awaited)",
            "",
            "| backend | delivered/s (first publish → last received) |",
            "|---|---|",
            *(f"| {label} | {rate:,.0f} |" for label, rate in medians.items()),
            "",
            f"Ratio cluster/one Redis: {ratio:.2f}×.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast_cluster", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print(run(options.count, options.rounds))


if __name__ == "__main__":
    main()
