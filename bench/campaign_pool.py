#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""campaign_pool.py FILE... - pool the alert latencies that
bench-campaign.sh wrote with BENCH_RAW=FILE over several runs ("idle MS" and
"draining MS" lines) and print p50/p90/p99/max of each phase and the ratio
of the p99s (docs/PERFORMANCE.md, "Marketing campaigns").  One run has
about 500 idle and 300-500 draining probes, so its p99 rests on the slowest
3-5 alerts; pooled runs give a steadier figure."""

import sys


def quantile(v, q):
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: campaign_pool.py FILE...")
    phases = {"idle": [], "draining": []}
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] in phases:
                    phases[parts[0]].append(float(parts[1]))
    for name, v in phases.items():
        v.sort()
        print("%-8s n=%d p50=%.1f p90=%.1f p99=%.1f max=%.1f ms" %
              (name, len(v), quantile(v, .5), quantile(v, .9), quantile(v, .99),
               v[-1] if v else float("nan")))
    idle, drain = phases["idle"], phases["draining"]
    if idle and drain:
        print("pooled p99 draining / idle: %.2f" % (quantile(drain, .99) / quantile(idle, .99)))


if __name__ == "__main__":
    main()
