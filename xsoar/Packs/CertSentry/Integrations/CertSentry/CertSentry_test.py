"""Unit tests of the CertSentry integration: what it decides on its own,
before or without asking certsentry. Its HTTP behaviour is tested against a
real certsentry in xsoar/tests/test_live.py."""

import json
import os
import socket
from datetime import datetime, timezone

import demistomock as demisto
import pytest

import CertSentry as cs

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.abspath(os.path.join(HERE, "..", ".."))
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)


def load(name):
    with open(os.path.join(HERE, "test_data", name), encoding="utf-8") as f:
        return json.load(f)


def closed_port_url():
    """An address nothing listens on: any HTTP attempt fails as 'Cannot reach'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def offline_client():
    return cs.Client(closed_port_url(), "t", verify=True, proxy=False)


def run_main(params, command, args=None, last_run=None):
    demisto.reset(params=params, command=command, args=args, last_run=last_run,
                  lists=demisto.STATE.get("lists", {}))
    try:
        cs.main()
    except SystemExit:
        pass
    return demisto.STATE


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("value, expected", [
    ("3 days", "2026-11-30T12:00:00Z"),
    ("12 hours", "2026-12-03T00:00:00Z"),
    ("30 minutes ago", "2026-12-03T11:30:00Z"),
    ("2 weeks", "2026-11-19T12:00:00Z"),
    ("", "2026-11-30T12:00:00Z"),
    ("2026-01-31T00:00:00Z", "2026-01-31T00:00:00Z"),
    ("2026-01-31T02:00:00+02:00", "2026-01-31T00:00:00Z"),
    ("2026-01-31", "2026-01-31T00:00:00Z"),
])
def test_first_fetch_accepts_relative_and_iso_times(value, expected):
    assert cs.parse_first_fetch(value, NOW) == expected


def test_first_fetch_says_what_it_did_not_understand():
    with pytest.raises(cs.CertSentryError, match="'yesterday-ish' is not understood"):
        cs.parse_first_fetch("yesterday-ish", NOW)


@pytest.mark.parametrize("value, ok", [("1", True), ("1000", True), ("0", False), ("1001", False), ("ten", False)])
def test_max_fetch_is_bounded(value, ok):
    if ok:
        assert cs.parse_max_fetch(value) == int(value)
    else:
        with pytest.raises(cs.CertSentryError, match="Maximum incidents per fetch"):
            cs.parse_max_fetch(value)


def test_similarity_threshold_is_zero_to_one_or_empty():
    assert cs.parse_threshold("") is None
    assert cs.parse_threshold("0.85") == 0.85
    for bad in ("1.5", "-0.1", "high"):
        with pytest.raises(cs.CertSentryError, match="Levenshtein similarity threshold"):
            cs.parse_threshold(bad)


# ---------------------------------------------------------------- incidents


def test_an_incident_becomes_an_xsoar_incident_with_every_fetch_field():
    incident = load("incident_exact_variant.json")
    xi = cs.to_xsoar_incident(incident)
    assert xi["name"] == "Lookalike of paypal.com: paypa1.com"
    assert xi["occurred"] == incident["first_seen"]
    datetime.fromisoformat(xi["occurred"].replace("Z", "+00:00"))
    assert xi["severity"] == 4
    assert xi["dbotMirrorId"] == incident["id"]
    assert xi["dbotMirrorDirection"] == "In" and xi["dbotMirrorInstance"] == "CertSentry_instance_1"
    raw = json.loads(xi["rawJSON"])
    added = {"enrichment_summary", "mirror_direction", "mirror_instance"}
    assert {k: v for k, v in raw.items() if k not in added} == incident
    assert raw["mirror_direction"] == "In"
    assert raw["enrichment_summary"]["ips"] == [] and raw["enrichment_summary"]["version"] is None
    off = cs.to_xsoar_incident(incident, {"mirror_direction": "None"})
    assert off["dbotMirrorDirection"] is None and json.loads(off["rawJSON"])["mirror_instance"] is None
    with pytest.raises(cs.CertSentryError, match="Incident mirroring 'Both' is not one of None, Incoming"):
        cs.to_xsoar_incident(incident, {"mirror_direction": "Both"})


def test_what_enrichment_found_is_flattened_for_the_mapper():
    summary = cs.enrichment_summary(load("incident_enriched.json"))
    assert summary["version"] == 2
    assert summary["ips"] == ["203.0.113.7", "2001:db8::7"]
    assert summary["mx"] == ["mx.paypa1.com"]
    assert summary["verdicts"] == ["live", "login_form", "similar_to_brand"]
    assert summary["live_url"] == "https://paypa1.com/login"
    assert summary["page_title"] == "Log in to your PayPal account"
    assert summary["brand_distance"] == 41
    assert (summary["registrar"], summary["registered"], summary["abuse_email"]) == (
        "NameCheap, Inc.", "2026-11-30T08:00:00Z", "abuse@namecheap.com")
    assert summary["asns"] == ["AS64500 EXAMPLE-NET"]
    assert summary["raised_by"] == ["live page with a login form", "registered 4 days ago"]
    # a page that is down has no live URL
    down = load("incident_enriched.json")
    down["enrichment"]["http"]["data"]["verdicts"] = ["down"]
    assert cs.enrichment_summary(down)["live_url"] is None


@pytest.mark.parametrize("value, expected", [
    ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00Z"),
    ("2026-12-03T14:00:00+02:00", "2026-12-03T12:00:00Z"),
    ("2026-12-03T12:00:00", "2026-12-03T12:00:00Z"),
    ("1796299200", "2026-12-03T12:00:00Z"),
    ("1796299200000", "2026-12-03T12:00:00Z"),
])
def test_mirroring_last_update_reads_iso_and_epoch_times(value, expected):
    assert cs.mirror_time(value) == expected


def test_a_last_update_that_is_no_time_skips_the_round():
    with pytest.raises(cs.CertSentryError, match="^skip update: lastUpdate 'soon' is not a time"):
        cs.mirror_time("soon")


class PagedClient:
    """Answers incidents() from a fixed page, as certsentry would."""

    def __init__(self, incidents):
        self.page = {"incidents": incidents, "next": None}

    def incidents(self, **query):
        return self.page


def test_with_mirroring_fetch_leaves_update_records_to_the_incident_they_update():
    first = load("incident_exact_variant.json")
    update = dict(load("incident_enriched.json"), id="01KBZZZZZZZZZZZZZZZZZZZZZZ", update_of=first["id"])
    client = PagedClient([first, update])
    params = {"first_fetch": "3 days", "max_fetch": "10"}
    _, incidents = cs.fetch_incidents(client, {}, params, now=NOW)
    assert [json.loads(i["rawJSON"])["id"] for i in incidents] == [first["id"]]
    _, incidents = cs.fetch_incidents(client, {}, dict(params, mirror_direction="None"), now=NOW)
    assert len(incidents) == 2


def test_a_homograph_is_named_in_unicode():
    incident = load("incident_homograph.json")
    xi = cs.to_xsoar_incident(incident)
    assert incident["domain"].startswith("xn--")
    assert incident["domain_unicode"] in xi["name"]


def test_filters_keep_severity_kinds_and_similarity():
    exact, typo = load("incident_exact_variant.json"), load("incident_typo.json")
    assert cs.wanted(exact, "critical", [], None)
    assert not cs.wanted(typo, "critical", [], None)
    assert cs.wanted(typo, "high", ["typo"], None)
    assert not cs.wanted(exact, "low", ["typo"], None)
    similarity = typo["match"]["similarity"]
    assert cs.wanted(typo, "low", [], similarity)
    assert not cs.wanted(typo, "low", [], similarity + 0.01)
    # listed variants and homographs carry no similarity: a threshold never drops them
    assert exact["match"].get("similarity") is None
    assert cs.wanted(exact, "low", [], 0.99)


# ---------------------------------------------------------------- list sync


def test_list_sync_is_due_on_the_interval():
    assert cs.list_sync_due({}, 30, NOW)
    assert not cs.list_sync_due({"list_synced_at": "2026-12-03T11:45:00+00:00"}, 30, NOW)
    assert cs.list_sync_due({"list_synced_at": "2026-12-03T11:30:00+00:00"}, 30, NOW)
    assert cs.list_sync_due({"list_synced_at": "garbage"}, 30, NOW)


def test_a_missing_xsoar_list_is_named_and_nothing_is_sent():
    with pytest.raises(cs.CertSentryError, match="The XSOAR list 'DomainsList' does not exist"):
        cs.sync_list(offline_client(), "DomainsList")


def test_a_list_that_is_not_json_is_refused_before_it_is_sent():
    demisto.STATE["lists"]["DomainsList"] = '{"paypal.com": ["paypa1"'
    with pytest.raises(cs.CertSentryError, match="is not JSON .*certsentry keeps its current list"):
        cs.sync_list(offline_client(), "DomainsList")


def test_generate_refuses_to_overwrite_without_asking_and_before_generating():
    demisto.STATE["lists"]["DomainsList"] = "{}"
    with pytest.raises(cs.CertSentryError, match="exists; set overwrite=true"):
        cs.list_generate_command(offline_client(), {"domains": "paypal.com", "list_name": "DomainsList"})
    with pytest.raises(cs.CertSentryError, match="sync=true needs list_name"):
        cs.list_generate_command(offline_client(), {"domains": "paypal.com", "sync": "true"})
    assert demisto.STATE["lists"]["DomainsList"] == "{}"


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("args, says", [
    ({"id": "01J0", "state": "maybe"}, "state 'maybe' is not one of new, investigating"),
    ({"id": "01J0"}, "give at least one of state, assignee and comment"),
    ({"state": "closed"}, "id is required"),
])
def test_triage_arguments_are_checked_before_sending(args, says):
    with pytest.raises(cs.CertSentryError, match=says):
        cs.incident_triage_command(offline_client(), args)


def test_errors_reach_the_war_room_without_a_stack_trace():
    state = run_main({"url": ""}, "test-module")
    assert state["results"][-1]["Type"] == 4
    assert state["results"][-1]["Contents"].startswith("Set the certsentry URL")
    url = closed_port_url()
    state = run_main({"url": url, "credentials": {"password": "t"}}, "certsentry-status")
    message = state["results"][-1]["Contents"]
    assert message.startswith(f"Cannot reach certsentry at {url}")
    assert "Traceback" not in message
    state = run_main({"url": url}, "certsentry-nothing")
    assert state["results"][-1]["Contents"] == "Failed to execute certsentry-nothing: Command certsentry-nothing is not implemented"


def test_every_command_in_the_yml_is_dispatched():
    import yaml
    with open(os.path.join(HERE, "CertSentry.yml"), encoding="utf-8") as f:
        yml = yaml.safe_load(f)
    names = {c["name"] for c in yml["script"]["commands"]}
    assert names == set(cs.COMMANDS) | {"certsentry-list-sync", "get-remote-data", "get-modified-remote-data"}
    assert yml["script"]["isfetch"] is True
    assert yml["script"]["isremotesyncin"] is True
    mirroring = next(p for p in yml["configuration"] if p["name"] == "mirror_direction")
    assert set(mirroring["options"]) == set(cs.MIRROR_DIRECTIONS) and mirroring["defaultvalue"] == "Incoming"
    params = {p["name"] for p in yml["configuration"]}
    # a superset of the CertStream pack's parameters
    for p in ("url", "credentials", "insecure", "proxy", "isFetch", "incidentType", "incidentFetchInterval",
              "max_fetch", "first_fetch", "min_severity", "brand", "kinds", "similarity_threshold", "list_name",
              "list_update_interval"):
        assert p in params, p


# ---------------------------------------------------------------- mapper


def mapper_fields():
    with open(os.path.join(PACK, "Classifiers", "classifier-mapper-incoming-CertSentry.json"), encoding="utf-8") as f:
        mapper = json.load(f)
    return mapper["mapping"]["CertSentry Lookalike Domain"]["internalMapping"]


def mapper_path(how):
    if how.get("simple"):
        return how["simple"]
    c = how["complex"]
    return f"{c['root']}.{c['accessor']}" if c.get("accessor") else c["root"]


def resolve(obj, dotted):
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def test_the_mapper_writes_defined_fields_from_paths_certsentry_sends():
    defined = set()
    fields_dir = os.path.join(PACK, "IncidentFields")
    for name in os.listdir(fields_dir):
        with open(os.path.join(fields_dir, name), encoding="utf-8") as f:
            defined.add(json.load(f)["name"])
    with open(os.path.join(PACK, "..", "..", "tests", "certstream_fields.json"), encoding="utf-8") as f:
        facts = json.load(f)
    defined |= {f["name"] for f in facts["fields"] + facts["system"]}
    # the mapper reads the raw JSON the integration makes of an incident
    incidents = [json.loads(cs.to_xsoar_incident(load(name))["rawJSON"]) for name in (
        "incident_exact_variant.json", "incident_typo.json", "incident_homograph.json", "incident_enriched.json")]
    for field, how in mapper_fields().items():
        assert field in defined, f"the mapper fills {field!r}, which is not defined"
        path = mapper_path(how)
        assert any(resolve(i, path) is not None for i in incidents), f"{field}: {path} is in no incident"
