#!/usr/bin/env python3
"""How low can false positives at 1,000 brands go by re-scoring alone?

Reads the TSV that `QUALITY_DUMP=<file> cargo bench --bench quality` writes
(every lookalike's best verdict for its brand, every popular domain's best
verdict at 1,000 brands) and groups the verdicts at or above `min_score`
into bins of the same evidence: the same kind, score and reason, with the
names, the brand and the similarity taken out of the explanation. A change
of scores that keeps the matcher's distinctions can drop a whole bin below
`min_score` or keep it; dropping it loses the bin's lookalikes too.

It prints two figures for the brands-only floors of issue #15 (homoglyph
97%, typos of 5+ 97%, typos of 3-4 90%, embedding/combosquat/suffix 95%):

- a plan: bins dropped greedily, most false positives per lookalike lost
  first, while every class stays at or above its floor;
- a bound no such plan can beat: the same problem with the four classes'
  margins pooled into one and bins allowed to drop in part (a relaxation,
  so the true optimum leaves at least this many).

With `--fine`, bins are also split by the brand label's length, whether
the name keeps the brand's suffix and how many labels it has: room for
rules that treat, say, 5-letter brands apart (and for over-fitting).

Usage: scripts/fp_floor.py [--fine] /tmp/dump.tsv [min_score]
"""

import collections
import re
import sys

# The lookalike classes the floors hold, by the dump's class column.
CLASS = {
    "homoglyph": "homoglyph",
    "typo1": "typos 5+",
    "typo2": "typos 5+",
    "short": "typos 3-4",
    "embedding": "embedding/combosquat/suffix",
    "combosquat": "embedding/combosquat/suffix",
    "suffix": "embedding/combosquat/suffix",
}
FLOOR = {
    "homoglyph": 0.97,
    "typos 5+": 0.97,
    "typos 3-4": 0.90,
    "embedding/combosquat/suffix": 0.95,
}


def evidence(kind, score, explanation):
    """The bin of a verdict: what the matcher can tell apart, no names."""
    e = re.sub(r'"[^"]*"', "_", explanation)
    e = re.sub(r" of [^:]*:", ":", e, count=1)
    e = re.sub(r"\(similarity [0-9.]+\)", "", e)
    e = e.replace("(wildcard certificate)", "")
    return (kind, score, " ".join(e.split()))


def main():
    args = [a for a in sys.argv[1:] if a != "--fine"]
    fine = len(args) < len(sys.argv) - 1
    if not args:
        sys.exit(__doc__)
    min_score = int(args[1]) if len(args) > 1 else 50
    total = collections.Counter()
    caught = collections.Counter()
    bins = collections.defaultdict(collections.Counter)
    with open(args[0], encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 8:
                continue
            side, cls, score = cols[0], cols[1], int(cols[5])
            b = evidence(cols[6], score, cols[7])
            if fine:
                brand, name = cols[2], cols[4]
                label, suffix = brand.split(".", 1)
                b += (len(label), name.endswith("." + suffix), name.count("."))
            if side == "look":
                c = CLASS.get(cls)
                if c is None:
                    continue
                total[c] += 1
                if score >= min_score:
                    caught[c] += 1
                    bins[b][c] += 1
            elif side == "fp" and score >= min_score:
                bins[b]["fp"] += 1

    margin = {}
    for c, floor in FLOOR.items():
        need = -(-floor * total[c] // 1)  # the fewest caught that meet the floor
        margin[c] = caught[c] - int(need)
        print(f"{c}: {caught[c]}/{total[c]} caught, {margin[c]} above the floor")
    fp = sum(b["fp"] for b in bins.values())
    print(f"false positives at {min_score}+: {fp}")

    # a plan: greedy, most false positives per lookalike lost first
    left = dict(margin)
    plan = 0
    order = sorted(
        (b for b in bins.values() if b["fp"]),
        key=lambda b: -b["fp"] / (1 + sum(b[c] for c in FLOOR)),
    )
    for b in order:
        if all(b[c] <= left[c] for c in FLOOR):
            for c in FLOOR:
                left[c] -= b[c]
            plan += b["fp"]
    print(f"a plan drops {plan}: {fp - plan} left")

    # the bound: margins pooled, bins dropped in part
    pool = sum(max(m, 0) for m in margin.values())
    most = 0.0
    costly = []
    for b in bins.values():
        cost = sum(b[c] for c in FLOOR)
        if b["fp"] and cost == 0:
            most += b["fp"]
        elif b["fp"]:
            costly.append((b["fp"], cost))
    for f_, cost in sorted(costly, key=lambda x: -x[0] / x[1]):
        take = min(1.0, pool / cost)
        most += f_ * take
        pool -= cost * take
        if pool <= 0:
            break
    print(f"no re-scoring drops more than {most:.0f}: at least {fp - most:.0f} left")


if __name__ == "__main__":
    main()
