#!/usr/bin/env python3
"""Summarises malloc_stats.c's log: per sample, the arenas, their size (system), what mallinfo2 counts
in use (live blocks and the chunks parked in per-thread tcaches) and free, and per arena size/in use.

    python3 crates/bench/tools/malloc_stats_summary.py /tmp/soak/mstat.log [every-nth-sample]
"""
import re, sys
# per sample: T, total arena, inuse, free, then per heap: system/free
cur = None; rows = []
for line in open(sys.argv[1]):
    m = re.match(r"T (\d+) arena (\d+) hblkhd (\d+) uordblks (\d+) fordblks (\d+)", line)
    if m:
        cur = {"t": int(m[1]), "arena": int(m[2]), "mmap": int(m[3]), "inuse": int(m[4]), "free": int(m[5]), "heaps": {}}
        rows.append(cur); heap = None; continue
    m = re.search(r'<heap nr="(\d+)">', line)
    if m: heap = int(m[1]); cur["heaps"][heap] = {"free": 0}; continue
    if line.strip() == "</heap>": heap = None; continue
    m = re.search(r'<total type="(fast|rest)" count="\d+" size="(\d+)"', line)
    if m and heap is not None: cur["heaps"][heap]["free"] += int(m[2]); continue
    m = re.search(r'<system type="current" size="(\d+)"', line)
    if m and heap is not None: cur["heaps"][heap]["sys"] = int(m[1])
every = int(sys.argv[2]) if len(sys.argv) > 2 else 1
for r in rows[::every] + ([rows[-1]] if rows and (len(rows)-1) % every else []):
    hs = " ".join(f"{h}:{v.get('sys',0)//1024}/{(v.get('sys',0)-v['free'])//1024}" for h, v in sorted(r["heaps"].items()))
    print(f"t {r['t']:>5} arenas {len(r['heaps'])} sys {r['arena']//1024} KiB inuse {r['inuse']//1024} free {r['free']//1024} mmap {r['mmap']//1024} | heap:sys/inuse KiB {hs}")
