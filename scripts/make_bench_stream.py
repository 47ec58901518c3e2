#!/usr/bin/env python3
"""Write a large certstream JSONL stream for throughput runs of `certsentry replay`.

Frames are the real `/full-stream` messages of tests/fixtures/live_ct.json with
their names and fingerprints varied; ~1% of certificates carry a lookalike of a
brand in lists/example.json, the rest benign names; a heartbeat every 1,000.

usage: scripts/make_bench_stream.py N > /tmp/stream.jsonl
"""
import json, random, sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
rng = random.Random(42)
entries = json.load(open("tests/fixtures/live_ct.json"))
templates = [e["expected_full"] for e in entries]
words = "cloud shop mail portal app dev blog media data home green river north smart tech pixel studio travel market health energy school design photo garden coffee group labs digital systems network service online global".split()
tlds = ["com", "net", "org", "io", "de", "co.uk", "fr", "xyz", "top", "shop", "app"]
lookalikes = ["paypa1", "xn--pypal-4ve", "paypal-login", "app1e", "rnicrosoft", "micorsoft", "googel", "arnazon", "bankofamerlca", "barc1ays"]
out = sys.stdout
for i in range(n):
    if i % 1000 == 999:
        out.write('{"message_type":"heartbeat","timestamp":1700000000.0}\n')
    m = json.loads(templates[i % len(templates)])
    if rng.random() < 0.01:
        base = f"{rng.choice(lookalikes)}.{rng.choice(tlds)}"
    else:
        base = f"{rng.choice(words)}-{rng.choice(words)}{rng.randrange(100000)}.{rng.choice(tlds)}"
    leaf = m["data"]["leaf_cert"]
    leaf["all_domains"] = [base, "www." + base]
    leaf["sha256"] = f"{i:064X}"
    out.write(json.dumps(m, separators=(",", ":")) + "\n")
