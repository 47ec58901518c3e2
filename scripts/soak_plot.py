"""Plot the soak's samples (scripts/soak.sh): RSS, open fds, store size and
outbox depth over time, one panel each."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
t = [float(r["seconds"]) / 60 for r in rows]
panels = [
    ("RSS (MiB)", [int(r["rss_kib"]) / 1024 for r in rows]),
    ("open file descriptors", [int(r["fds"]) for r in rows]),
    ("SQLite store + WAL (MiB)", [int(r["store_bytes"]) / 2**20 for r in rows]),
    ("outbox pending", [int(r["outbox_pending"]) for r in rows]),
]
if rows and "ct_rss_kib" in rows[0]:
    panels.append(("CT reader RSS (MiB)", [int(r["ct_rss_kib"]) / 1024 for r in rows]))
    panels.append(("CT entries read", [int(r["ct_entries"] or 0) if r["ct_entries"] != "null" else 0 for r in rows]))
fig, axes = plt.subplots(len(panels), 1, figsize=(9, 10), sharex=True)
for ax, (label, ys) in zip(axes, panels):
    ax.plot(t, ys)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)
axes[-1].set_xlabel("minutes")
fig.suptitle("certsentry soak")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
