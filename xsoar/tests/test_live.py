"""The integration against a real certsentry: `certsentry serve` started on
127.0.0.1 with a certstream feed (a websocket server here, sending the demo
stream), driven through the integration's main() with the stand-ins, as XSOAR
would drive it."""

import copy
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import demistomock as demisto
import pytest
import requests
from websockets.sync.server import serve

import CertSentry as cs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKEN = "live-t0ken-for-tests"
DEMO_INCIDENTS = 12  # what the demo stream gives with lists/example.json


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    path = os.environ.get("CERTSENTRY_BIN") or os.path.join(ROOT, "target", "debug", "certsentry")
    if not os.path.exists(path):
        pytest.fail(f"no certsentry binary at {path}: run `cargo build` first or set CERTSENTRY_BIN")
    return path


class Feed:
    """A certstream server: every client gets the demo stream, then what
    `send` is given."""

    def __init__(self):
        with open(os.path.join(ROOT, "demo", "stream.jsonl"), encoding="utf-8") as f:
            self.demo = [line.rstrip("\n") for line in f if line.strip()]
        self.clients = []
        self.lock = threading.Lock()
        self.server = serve(self.handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handler(self, ws):
        outbox = queue.Queue()
        with self.lock:
            self.clients.append(outbox)
        for line in self.demo:
            ws.send(line)
        while True:
            try:
                line = outbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                return
            ws.send(line)

    def send(self, message):
        with self.lock:
            for outbox in self.clients:
                outbox.put(json.dumps(message))

    def stop(self):
        with self.lock:
            for outbox in self.clients:
                outbox.put(None)
        self.server.shutdown()


class Certsentry:
    def __init__(self, tmp_path, feed, list_text=None):
        self.dir = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.list_path = os.path.join(tmp_path, "list.json")
        shutil.copy(os.path.join(ROOT, "lists", "example.json"), self.list_path)
        if list_text is not None:
            with open(self.list_path, "w", encoding="utf-8") as f:
                f.write(list_text)
        config = os.path.join(tmp_path, "certsentry.toml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""
[api]
listen = "127.0.0.1:{self.port}"
token = "{TOKEN}"
[source]
kind = "certstream"
url = "ws://127.0.0.1:{feed.port}/"
[watchlist]
path = "{self.list_path}"
reload_interval = "1h"
[store]
path = "{os.path.join(tmp_path, 'certsentry.db')}"
""")
        self.log = open(os.path.join(tmp_path, "certsentry.log"), "wb")
        self.proc = subprocess.Popen([binary(), "serve", "--config", config], stdout=self.log, stderr=self.log,
                                     env={**os.environ, "RUST_LOG": "info"})
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"certsentry exited: {self.read_log()}")
            try:
                # /healthz: up (without a list, /readyz says not ready)
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"certsentry did not get ready: {self.read_log()}")

    def read_log(self):
        with open(os.path.join(self.dir, "certsentry.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def api(self, method, path, **kwargs):
        r = requests.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10,
                             **kwargs)
        r.raise_for_status()
        return r.json()

    def wait_incidents(self, n):
        deadline = time.time() + 30
        got = []
        while time.time() < deadline:
            got = self.api("GET", "/v1/incidents", params={"limit": 1000})["incidents"]
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{len(got)} incidents, wanted {n}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def service(tmp_path):
    feed = Feed()
    svc = Certsentry(str(tmp_path), feed)
    svc.feed = feed
    svc.wait_incidents(DEMO_INCIDENTS)
    yield svc
    svc.stop()
    feed.stop()


def params_for(svc, **extra):
    p = {"url": svc.url, "credentials": {"identifier": "", "password": TOKEN}, "isFetch": True,
         "max_fetch": "100", "first_fetch": "3650 days", "min_severity": "low"}
    p.update(extra)
    return p


def run(params, command, args=None, last_run=None):
    """One run of the integration's main(), as XSOAR starts it."""
    lists = demisto.STATE.get("lists", {})
    demisto.reset(params=params, command=command, args=args, last_run=last_run, lists=lists)
    try:
        cs.main()
    except SystemExit:
        pass
    return copy.deepcopy(demisto.STATE)


def error_of(state):
    errors = [r for r in state["results"] if isinstance(r, dict) and r.get("Type") == 4]
    return errors[-1]["Contents"] if errors else None


def contents(state):
    assert error_of(state) is None, error_of(state)
    return state["results"][-1]


def new_lookalike(svc, name, tag):
    """A real certificate message from the demo stream, naming `name`."""
    msg = next(json.loads(line) for line in svc.feed.demo if '"certificate_update"' in line)
    leaf = msg["data"]["leaf_cert"]
    leaf["all_domains"] = [name]
    leaf["subject"] = {"CN": name, "aggregated": f"/CN={name}"}
    leaf["sha256"] = ":".join(f"{b:02X}" for b in bytes.fromhex(("%064x" % hash(tag)).replace("-", "0")[-64:]))
    leaf["sha1"] = leaf["sha256"][:59]
    leaf["fingerprint"] = leaf["sha1"]
    leaf["serial_number"] = tag
    return msg


# ---------------------------------------------------------------- tests


def test_test_module_says_ok_or_exactly_what_is_wrong(service):
    assert run(params_for(service), "test-module")["results"] == ["ok"]

    wrong = params_for(service, credentials={"identifier": "", "password": "not-the-token"})
    assert error_of(run(wrong, "test-module")) == (
        "certsentry refused the API token (HTTP 401): set the instance's API token to one of certsentry's api.tokens")

    port = free_port()
    unreachable = params_for(service, url=f"http://127.0.0.1:{port}")
    assert error_of(run(unreachable, "test-module")).startswith(f"Cannot reach certsentry at http://127.0.0.1:{port}")

    missing_list = params_for(service, list_name="DomainsList")
    assert error_of(run(missing_list, "test-module")).startswith("The XSOAR list 'DomainsList' does not exist")

    bad_first_fetch = params_for(service, first_fetch="last tuesday")
    assert "'last tuesday' is not understood" in error_of(run(bad_first_fetch, "test-module"))


def test_without_a_list_test_module_says_so_and_a_sync_gives_it_one(tmp_path):
    feed = Feed()
    svc = Certsentry(str(tmp_path), feed, list_text='{"paypal.com": [42]}')
    try:
        message = error_of(run(params_for(svc), "test-module"))
        assert message.startswith("certsentry has no homograph list loaded: "), message
        assert 'list key "paypal.com", item 0' in message
        demisto.STATE["lists"]["DomainsList"] = json.dumps({"paypal.com": ["paypa1"]})
        params = params_for(svc, list_name="DomainsList")
        assert contents(run(params, "certsentry-list-sync"))["Contents"]["Brands"] == 1
        assert run(params, "test-module")["results"] == ["ok"]
    finally:
        svc.stop()
        feed.stop()


def test_fetch_gives_every_incident_once_then_only_new_ones(service):
    params = params_for(service)
    first = run(params, "fetch-incidents")
    incidents = first["incidents"]
    served = service.api("GET", "/v1/incidents", params={"limit": 1000})["incidents"]
    assert len(incidents) == DEMO_INCIDENTS == len(served)
    by_id = {i["id"]: i for i in served}
    for xi in incidents:
        raw = json.loads(xi["rawJSON"])
        assert xi["dbotMirrorId"] == raw["id"] and raw["id"] in by_id
        added = {"enrichment_summary", "mirror_direction", "mirror_instance"}
        assert {k: v for k, v in raw.items() if k not in added} == by_id[raw["id"]]
        assert xi["occurred"] == raw["first_seen"]
        assert xi["severity"] == {"low": 1, "medium": 2, "high": 3, "critical": 4}[raw["severity"]]
        assert xi["name"] == f"Lookalike of {raw['brand']}: {raw['domain_unicode']}"
        assert raw["certificate"]["all_domains"]
        # a certstream domains-only message carries names, no certificate hash
        assert raw["certificate"]["sha256"] or raw["certificate"]["update_type"] == "DomainsOnly"
    assert first["last_run"]["after"] == served[-1]["id"]

    # the mapper reads only paths a fetched incident has
    raws = [json.loads(xi["rawJSON"]) for xi in incidents]
    with open(os.path.join(ROOT, "xsoar", "Packs", "CertSentry", "Classifiers",
                           "classifier-mapper-incoming-CertSentry.json"), encoding="utf-8") as f:
        mapping = json.load(f)["mapping"]["CertSentry Lookalike Domain"]["internalMapping"]
    for field, how in mapping.items():
        path = how.get("simple") or f"{how['complex']['root']}.{how['complex']['accessor']}"
        if path.startswith("enrichment_summary."):
            continue  # enrichment is off here; the unit tests map an enriched incident
        found = [r for r in raws if _resolve(r, path) not in (None, "")]
        assert found, f"{field}: {path} is in no fetched incident"
        # only typos carry a similarity; a certstream domains-only message has no certificate or CT index
        full = [r for r in raws if r["certificate"]["update_type"] != "DomainsOnly"]
        if path != "match.similarity":
            assert all(r in found for r in full), f"{field}: {path} missing from some incidents"

    second = run(params, "fetch-incidents", last_run=first["last_run"])
    assert second["incidents"] == []
    assert second["last_run"]["after"] == first["last_run"]["after"]

    service.feed.send(new_lookalike(service, "paypai.com", "live-1"))
    service.wait_incidents(DEMO_INCIDENTS + 1)
    third = run(params, "fetch-incidents", last_run=second["last_run"])
    assert [json.loads(x["rawJSON"])["domain"] for x in third["incidents"]] == ["paypai.com"]
    assert third["last_run"]["after"] != second["last_run"]["after"]


def test_mirroring_brings_what_changed_in_certsentry_to_the_same_incident(service):
    params = params_for(service)
    target = service.api("GET", "/v1/incidents", params={"limit": 1000})["incidents"][-1]
    later = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    nothing = contents(run(params, "get-modified-remote-data", {"lastUpdate": later}))
    assert nothing["Contents"] == []
    mark = datetime.now(timezone.utc) - timedelta(seconds=2)
    service.api("PATCH", f"/v1/incidents/{target['id']}", json={"state": "investigating", "actor": "ana"})
    for last_update in (mark.isoformat(), str(int(mark.timestamp() * 1000))):
        changed = contents(run(params, "get-modified-remote-data", {"lastUpdate": last_update}))
        assert target["id"] in changed["Contents"], last_update
        assert changed["EntryContext"]["ids"] == changed["Contents"]
    got = run(params, "get-remote-data", {"id": target["id"], "lastUpdate": mark.isoformat()})
    assert error_of(got) is None, error_of(got)
    mirrored = got["results"][-1][0]
    assert mirrored["id"] == target["id"]
    assert mirrored["triage"]["state"] == "investigating"
    assert mirrored["score"] == target["score"] and "enrichment_summary" in mirrored
    assert "triage_history" not in mirrored
    # a certsentry that cannot be reached makes XSOAR skip the round
    down = run(dict(params, url="http://127.0.0.1:1"), "get-modified-remote-data", {"lastUpdate": later})
    assert error_of(down).startswith("skip update: Cannot reach certsentry")


def _resolve(obj, dotted):
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def test_fetch_pages_by_max_fetch_and_applies_the_filters(service):
    seen = []
    last_run = {}
    sizes = []
    for _ in range(5):
        state = run(params_for(service, max_fetch="5"), "fetch-incidents", last_run=last_run)
        last_run = state["last_run"]
        sizes.append(len(state["incidents"]))
        seen += [x["dbotMirrorId"] for x in state["incidents"]]
    assert sizes == [5, 5, 2, 0, 0]
    assert len(set(seen)) == DEMO_INCIDENTS

    typos = run(params_for(service, kinds="typo"), "fetch-incidents")["incidents"]
    assert {json.loads(x["rawJSON"])["match"]["kind"] for x in typos} == {"typo"}
    assert len(typos) == 2
    critical = run(params_for(service, min_severity="critical"), "fetch-incidents")["incidents"]
    assert all(x["severity"] == 4 for x in critical) and len(critical) == DEMO_INCIDENTS - 2
    microsoft = run(params_for(service, brand="microsoft.com"), "fetch-incidents")["incidents"]
    assert {json.loads(x["rawJSON"])["brand"] for x in microsoft} == {"microsoft.com"}
    strict = run(params_for(service, similarity_threshold="0.99"), "fetch-incidents")["incidents"]
    assert len(strict) == DEMO_INCIDENTS - 2, "typos below the similarity are left out, nothing else"


def test_match_generate_and_sync_round_trip(service):
    params = params_for(service, list_name="DomainsList")
    verdicts = contents(run(params, "certsentry-match", {"names": "paypa1.com,example.org"}))
    by_name = {v["name"]: v for v in verdicts["Contents"]}
    assert by_name["paypa1.com"]["matched"] is True and by_name["paypa1.com"]["brand"] == "paypal.com"
    assert by_name["example.org"]["matched"] is False
    assert "paypa1.com" in verdicts["HumanReadable"]

    generated = contents(run(params, "certsentry-list-generate",
                             {"domains": "northwindbank.com", "limit": "50", "list_name": "DomainsList",
                              "sync": "true"}))
    saved = json.loads(demisto.STATE["lists"]["DomainsList"])
    assert list(saved) == ["northwindbank.com"]
    assert generated["Contents"] == saved
    # 50 variants, a homograph listed in both its Unicode and punycode forms
    assert service.api("GET", "/v1/status")["list"]["variants"] == 50
    assert "Saved as the XSOAR list **DomainsList**" in generated["HumanReadable"]
    active = service.api("GET", "/v1/lists/current")
    assert list(active) == ["northwindbank.com"]
    with open(service.list_path, encoding="utf-8") as f:
        assert json.load(f) == saved, "certsentry keeps the synced list in its watchlist file"

    listed = contents(run(params, "certsentry-list-get"))
    assert [row["Domain"] for row in listed["EntryContext"]["CertSentry.List(val.Domain && val.Domain == obj.Domain)"]] \
        == ["northwindbank.com"]
    variant = saved["northwindbank.com"][0]
    verdict = contents(run(params, "certsentry-match", {"names": variant}))["Contents"][0]
    assert verdict["matched"] is True and verdict["brand"] == "northwindbank.com"
    old = contents(run(params, "certsentry-match", {"names": "paypa1.com"}))["Contents"][0]
    assert old["matched"] is False, "the synced list replaced the old one"

    # overwriting needs overwrite=true; then an edit in XSOAR is synced on demand
    refused = run(params, "certsentry-list-generate", {"domains": "paypal.com", "list_name": "DomainsList"})
    assert "exists; set overwrite=true" in error_of(refused)
    demisto.STATE["lists"]["DomainsList"] = json.dumps({"northwindbank.com": [], "contoso.com": ["c0ntoso"]})
    synced = contents(run(params, "certsentry-list-sync"))
    assert synced["Contents"]["Brands"] == 2
    assert set(service.api("GET", "/v1/lists/current")) == {"northwindbank.com", "contoso.com"}


def test_an_invalid_synced_list_is_refused_and_the_old_one_stays(service):
    params = params_for(service, list_name="DomainsList", list_update_interval="1")
    before = service.api("GET", "/v1/lists/current")
    with open(service.list_path, encoding="utf-8") as f:
        file_before = f.read()
    demisto.STATE["lists"]["DomainsList"] = json.dumps({"paypal.com": [42]})
    message = error_of(run(params, "certsentry-list-sync"))
    assert message.startswith("certsentry answered HTTP 422 to PUT /v1/lists/current: "
                              "list refused; the last good list stays active"), message
    assert service.api("GET", "/v1/lists/current") == before
    with open(service.list_path, encoding="utf-8") as f:
        assert f.read() == file_before

    demisto.STATE["lists"]["DomainsList"] = "{not json"
    assert "is not JSON" in error_of(run(params, "certsentry-list-sync"))
    assert service.api("GET", "/v1/lists/current") == before

    # a fetch whose list sync fails still fetches, and says why in the log
    state = run(params, "fetch-incidents")
    assert len(state["incidents"]) == DEMO_INCIDENTS
    assert any(level == "error" and "list sync failed" in msg for level, msg in state["logs"])
    assert "list_synced_at" not in state["last_run"], "retried on the next fetch"

    # a good list syncs on the fetch's interval
    demisto.STATE["lists"]["DomainsList"] = json.dumps({"paypal.com": ["paypa1"]})
    state = run(params, "fetch-incidents", last_run=state["last_run"])
    assert state["last_run"]["list_synced_at"]
    assert service.api("GET", "/v1/lists/current") == {"paypal.com": ["paypa1"]}


def test_triage_goes_back_to_certsentry(service):
    params = params_for(service)
    first = service.api("GET", "/v1/incidents", params={"limit": 1})["incidents"][0]
    out = contents(run(params, "certsentry-incident-triage",
                       {"id": first["id"], "state": "confirmed_malicious", "comment": "phishing kit", "actor": "ana"}))
    assert out["Contents"]["triage"]["state"] == "confirmed_malicious"
    stored = service.api("GET", f"/v1/incidents/{first['id']}")
    assert stored["triage"]["updated_by"] == "ana"
    assert stored["triage_history"][0]["comment"] == "phishing kit"
    got = contents(run(params, "certsentry-incident-get", {"id": first["id"]}))
    assert got["Contents"]["triage"]["state"] == "confirmed_malicious"
    assert "Certificate" in got["HumanReadable"]
    # a false positive, suppressed for its brand: certsentry stops alerting on it
    fp = contents(run(params, "certsentry-incident-triage",
                      {"id": first["id"], "state": "false_positive", "suppress": "brand", "actor": "ana"}))
    assert fp["Contents"]["suppression"]["domain"] == first["registrable_domain"]
    assert "no longer raises incidents for" in fp["HumanReadable"]
    verdict = contents(run(params, "certsentry-match", {"names": first["domain"]}))["Contents"][0]
    assert verdict["incident"] is False and verdict["suppressed_by"] == fp["Contents"]["suppression"]["id"]
    missing = run(params, "certsentry-incident-triage", {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "state": "closed"})
    assert error_of(missing).startswith("certsentry answered HTTP 404")


def test_status_incidents_and_deliveries_commands(service):
    params = params_for(service)
    status = contents(run(params, "certsentry-status"))
    assert status["Contents"]["list"]["brands"] == 7
    page = contents(run(params, "certsentry-incident-list", {"limit": "3", "severity": "high"}))
    assert [i["severity"] for i in page["Contents"]["incidents"]] == ["high", "high"]
    deliveries = contents(run(params, "certsentry-delivery-list", {"state": "failed"}))
    assert deliveries["Contents"]["deliveries"] == []
    missing = run(params, "certsentry-delivery-retry", {"id": "999"})
    assert error_of(missing).startswith("certsentry answered HTTP 404")
    reloaded = contents(run(params, "certsentry-list-reload"))
    assert reloaded["Contents"]["list"]["brands"] == 7
