"""Address normalisation at intake (core.divisions.normalise): what building the index costs once
per process, and what one address costs after that — it runs for every order taken in.

`.venv/bin/python -m bench.addresses` (no database). The mix: complete official addresses, short
names, municipalities, one-line addresses, unknown names and addresses outside China."""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = int(os.environ.get("ROUNDS", 20_000))
MIX = [
    {"country": "CN", "province": "浙江省", "city": "杭州市", "district": "西湖区", "line1": "文三路 90 号"},
    {"country": "CN", "province": "广东", "city": "深圳", "district": "南山", "line1": "科技园科苑路15号"},
    {"country": "CN", "province": "北京", "city": "北京", "district": "朝阳区", "line1": "建国路88号"},
    {"country": "CN", "province": "上海", "city": "浦东新区", "district": "", "line1": "世纪大道 1 号"},
    {
        "country": "CN",
        "province": "",
        "city": "深圳",
        "district": "",
        "line1": "广东省深圳市南山区科技园科苑路15号",
    },
    {"country": "CN", "province": "新疆", "city": "乌鲁木齐", "district": "天山区", "line1": "解放北路 1 号"},
    {"country": "CN", "province": "浙江省", "city": "杭州市", "district": "云栖小镇", "line1": "西湖大道1号"},
    {"country": "US", "province": "CA", "city": "San Francisco", "district": "", "line1": "1 Market St"},
]


def main() -> None:
    started = time.perf_counter()
    from core import divisions

    divisions._index()
    print(f"index built once per process: {(time.perf_counter() - started) * 1000:.1f} ms")
    per_address = []
    for _round in range(ROUNDS // len(MIX)):
        for address in MIX:
            begin = time.perf_counter()
            divisions.normalise(**address)
            per_address.append(time.perf_counter() - begin)
    per_address.sort()
    mean = statistics.fmean(per_address) * 1e6
    p95 = per_address[int(len(per_address) * 0.95)] * 1e6
    print(
        f"{len(per_address):,} addresses: mean {mean:.1f} µs, p95 {p95:.1f} µs, max {per_address[-1] * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
