#!/usr/bin/env python3
"""Build demo/stream.jsonl, the bundled stream `certsentry demo` replays.

Real part: the 40 `expected_full` certstream messages of the real CT entries in
shared/fixtures/ct/live_ct.json (certstream-server-rust test fixtures, MIT).
Lookalike part: copies of one real message with the names, serial and
fingerprints replaced (marked "certsentry-demo" in the subject O) so they
imitate the brands of lists/example.json. Plus the noise a real stream has:
heartbeats, a dns_entries message, a malformed line, the brand's own
certificate and a precertificate/final pair of the same lookalike.

usage: scripts/make_demo_stream.py ../shared/fixtures/ct/live_ct.json > demo/stream.jsonl
"""
import copy, hashlib, json, sys

entries = json.load(open(sys.argv[1]))
real = [json.loads(e["expected_full"]) for e in entries]
template = real[0]

LOOKALIKES = [
    # (names, update_type)
    (["paypa1.com", "www.paypa1.com"], "PrecertLogEntry"),
    (["paypa1.com", "www.paypa1.com"], "X509LogEntry"),      # same lookalike again: no second incident
    (["xn--pypal-4ve.com"], "X509LogEntry"),                  # pаypal.com, Cyrillic а
    (["xn--80ak6aa92e.com", "www.xn--80ak6aa92e.com"], "X509LogEntry"),  # аррӏе.com
    (["*.paypal-login.top", "paypal-login.top"], "X509LogEntry"),
    (["rnicrosoft.net"], "X509LogEntry"),
    (["micorsoft.com"], "X509LogEntry"),                      # transposition
    (["googel.com", "www.googel.com"], "X509LogEntry"),
    (["xn--mazon-3ve.com"], "PrecertLogEntry"),               # аmazon.com
    (["bankofamerlca.com"], "X509LogEntry"),
    (["barc1ays.co.uk"], "X509LogEntry"),
    (["amazon-security.help"], "X509LogEntry"),
    (["www.paypal.com", "paypal.com"], "X509LogEntry"),       # the brand's own: never alerts
    (["login.barclays.co.uk"], "X509LogEntry"),               # the brand's own
]

def colon_hex(data):
    return ":".join(f"{b:02X}" for b in data)

def lookalike(names, update_type, n):
    msg = copy.deepcopy(template)
    d = msg["data"]
    leaf = d["leaf_cert"]
    cn = names[0]
    leaf["all_domains"] = names
    leaf["subject"] = {"CN": cn, "O": "certsentry-demo", "aggregated": f"/CN={cn}/O=certsentry-demo"}
    leaf["extensions"]["subjectAltName"] = ", ".join(f"DNS:{x}" for x in names)
    seed = ("certsentry-demo|" + update_type + "|" + "|".join(names)).encode()
    leaf["serial_number"] = hashlib.md5(seed).hexdigest().upper()
    leaf["sha1"] = leaf["fingerprint"] = colon_hex(hashlib.sha1(seed).digest())
    leaf["sha256"] = colon_hex(hashlib.sha256(seed).digest())
    leaf.pop("as_der", None)
    d["update_type"] = update_type
    d["cert_index"] = 2_000_000_000 + n
    base = d["source"]["url"].rstrip("/")
    d["cert_link"] = f"{base}/ct/v1/get-entries?start={d['cert_index']}&end={d['cert_index']}"
    return msg

out = []
out.append({"message_type": "heartbeat", "timestamp": 1700000000.0})
fakes = [lookalike(names, t, i) for i, (names, t) in enumerate(LOOKALIKES)]
# interleave: a few real certificates between lookalikes, as in a live stream
ri = 0
for i, fake in enumerate(fakes):
    for _ in range(3):
        if ri < len(real):
            out.append(real[ri]); ri += 1
    out.append(fake)
    if i == 4:
        out.append({"message_type": "dns_entries", "data": ["mail.example.org", "g00gle.com"]})
        out.append({"message_type": "heartbeat", "timestamp": 1700000030.0})
while ri < len(real):
    out.append(real[ri]); ri += 1
for line in out:
    print(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
print('{"message_type": "certificate_update", "data": {"leaf_cert": ')  # truncated frame: malformed
print(json.dumps({"message_type": "heartbeat", "timestamp": 1700000060.0}))
