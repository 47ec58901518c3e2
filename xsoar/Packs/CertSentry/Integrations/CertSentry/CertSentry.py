"""CertSentry: lookalike domains found in Certificate Transparency, fetched
from a certsentry service as XSOAR incidents, with commands to match names,
generate and sync the homograph list, and manage deliveries.

certsentry does the watching (CT logs or certstream), the matching and the
storing; this integration pulls its incidents (``GET /v1/incidents`` with the
cursor kept in ``lastRun``) and keeps certsentry's list in step with an XSOAR
list. With incoming mirroring (the default), what certsentry later learns of
an incident (enrichment: addresses, mail, registration, a live page; more
sightings; triage) reaches the same XSOAR incident: ``get-modified-remote-data``
asks certsentry what changed (``modified_since``) and ``get-remote-data``
reads each changed incident for the incoming mapper.
"""

import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401,F403

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

SEVERITY = {"low": 1, "medium": 2, "high": 3, "critical": 4}
TRIAGE_STATES = ["new", "investigating", "confirmed_malicious", "false_positive", "brand_owned",
                 "takedown_requested", "closed"]
KINDS = ["exact_variant", "homograph", "subdomain", "typo", "combosquat", "suffix_swap", "rule"]
# Every HTTP status comes back to `Client.call`, which words the error itself.
ANY_STATUS = tuple(range(100, 600))
# One fetch reads at most this many pages of certsentry's feed.
MAX_PAGES = 10
MAX_FETCH_CAP = 1000
DEFAULT_LIST_INTERVAL_MINUTES = 30
MIRROR_DIRECTIONS = {"None": None, "Incoming": "In"}


class CertSentryError(Exception):
    """An error meant for the analyst: no stack trace, says what to fix."""


class Client(BaseClient):
    """certsentry's /v1 API with the instance's bearer token."""

    def __init__(self, base_url: str, token: str, verify: bool, proxy: bool):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        super().__init__(base_url=base_url.rstrip("/"), verify=verify, proxy=proxy, headers=headers)

    def call(self, method: str, path: str, **kwargs) -> Any:
        try:
            resp = self._http_request(method, path, resp_type="response", ok_codes=ANY_STATUS, timeout=60, **kwargs)
        except DemistoException as e:
            raise CertSentryError(f"Cannot reach certsentry at {self._base_url}: {e}") from None
        if resp.status_code == 401:
            raise CertSentryError(
                "certsentry refused the API token (HTTP 401): set the instance's API token to one of certsentry's api.tokens"
            )
        if resp.status_code >= 400:
            try:
                body = resp.json()
                reason = f"{body.get('error', '')}: {body.get('detail', '')}".strip(": ")
            except ValueError:
                reason = resp.text[:300]
            raise CertSentryError(f"certsentry answered HTTP {resp.status_code} to {method} {path}: {reason}")
        try:
            return resp.json()
        except ValueError:
            raise CertSentryError(f"certsentry answered {method} {path} with something that is not JSON") from None

    def status(self) -> dict:
        return self.call("GET", "/v1/status")

    def incidents(self, **query) -> dict:
        return self.call("GET", "/v1/incidents", params={k: v for k, v in query.items() if v not in (None, "")})

    def incident(self, incident_id: str) -> dict:
        return self.call("GET", f"/v1/incidents/{incident_id}")

    def triage(self, incident_id: str, body: dict) -> dict:
        return self.call("PATCH", f"/v1/incidents/{incident_id}", json_data=body)

    def match(self, names: list) -> dict:
        return self.call("POST", "/v1/match", json_data={"names": names})

    def generate(self, body: dict) -> dict:
        return self.call("POST", "/v1/lists/generate", json_data=body)

    def list_current(self) -> dict:
        return self.call("GET", "/v1/lists/current")

    def list_replace(self, data: str) -> dict:
        return self.call("PUT", "/v1/lists/current", data=data.encode("utf-8"),
                         headers={**self._headers, "Content-Type": "application/json"})

    def list_reload(self) -> dict:
        return self.call("POST", "/v1/lists/reload")

    def deliveries(self, **query) -> dict:
        return self.call("GET", "/v1/deliveries", params={k: v for k, v in query.items() if v not in (None, "")})

    def delivery_retry(self, delivery_id: int) -> dict:
        return self.call("POST", f"/v1/deliveries/{delivery_id}/retry")


# ---------------------------------------------------------------- helpers


def parse_first_fetch(value: str, now: datetime) -> str:
    """'3 days', '12 hours', '30 minutes', '2 weeks' or an ISO 8601 time → RFC 3339 UTC."""
    value = (value or "").strip()
    if not value:
        value = "3 days"
    m = re.fullmatch(r"(\d+)\s*(minute|hour|day|week)s?(\s+ago)?", value, re.IGNORECASE)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        delta = {"minute": timedelta(minutes=n), "hour": timedelta(hours=n), "day": timedelta(days=n),
                 "week": timedelta(weeks=n)}[unit]
        return (now - delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CertSentryError(
            f"First fetch time {value!r} is not understood: use e.g. '3 days', '12 hours' or 2026-01-31T00:00:00Z"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_max_fetch(value: Any) -> int:
    try:
        n = int(value or 100)
    except (TypeError, ValueError):
        raise CertSentryError(f"Maximum incidents per fetch {value!r} is not a number") from None
    if not 1 <= n <= MAX_FETCH_CAP:
        raise CertSentryError(f"Maximum incidents per fetch must be 1 to {MAX_FETCH_CAP}")
    return n


def parse_threshold(value: Any) -> float | None:
    """The Levenshtein similarity threshold (0-1), as the CertStream pack has it; empty = no threshold."""
    if value in (None, ""):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise CertSentryError(f"Levenshtein similarity threshold {value!r} is not a number from 0 to 1") from None
    if not 0.0 <= t <= 1.0:
        raise CertSentryError("Levenshtein similarity threshold must be from 0 to 1")
    return t


def wanted(incident: dict, min_severity: str, kinds: list, threshold: float | None) -> bool:
    if SEVERITY.get(incident.get("severity", ""), 0) < SEVERITY.get(min_severity or "low", 1):
        return False
    match = incident.get("match") or {}
    if kinds and match.get("kind") not in kinds:
        return False
    if threshold is not None:
        similarity = match.get("similarity")
        # homographs and listed variants carry no edit similarity: they are exact lookalikes
        if similarity is not None and similarity < threshold:
            return False
    return True


def mirror_direction(params: dict) -> str | None:
    choice = params.get("mirror_direction") or "Incoming"
    if choice not in MIRROR_DIRECTIONS:
        raise CertSentryError(f"Incident mirroring {choice!r} is not one of {', '.join(MIRROR_DIRECTIONS)}")
    return MIRROR_DIRECTIONS[choice]


def enrichment_summary(incident: dict) -> dict:
    """What enrichment found, flat, for the incoming mapper's fields."""
    enrichment = incident.get("enrichment") or {}

    def data(name: str) -> dict:
        found = enrichment.get(name)
        return (found.get("data") or {}) if isinstance(found, dict) else {}

    dns, http, rdap = data("dns"), data("http"), data("rdap")
    verdicts: list = []
    for name in ("http", "screenshot"):
        for v in data(name).get("verdicts") or []:
            if v not in verdicts:
                verdicts.append(v)
    networks = [n for n in data("asn").get("networks") or [] if n.get("asn") is not None]
    return {
        "version": enrichment.get("version"),
        "ips": (dns.get("a") or []) + (dns.get("aaaa") or []),
        # "10 mx.example.com" or "mx.example.com"
        "mx": [str(m).split(" ")[-1].rstrip(".") for m in dns.get("mx") or []],
        "verdicts": verdicts,
        "live_url": http.get("final_url") if "live" in verdicts else None,
        "page_title": http.get("title"),
        "brand_distance": http.get("brand_distance"),
        "registrar": rdap.get("registrar"),
        "registered": rdap.get("created"),
        "abuse_email": rdap.get("abuse_email"),
        "asns": [f"AS{n['asn']} {n.get('as_name') or ''}".strip() for n in networks],
        "raised_by": ((enrichment.get("evidence") or {}).get("raised_by")) or [],
    }


def to_xsoar_incident(incident: dict, params: dict | None = None) -> dict:
    params = params or {}
    shown = incident.get("domain_unicode") or incident.get("domain", "")
    direction = mirror_direction(params)
    raw = dict(incident, enrichment_summary=enrichment_summary(incident),
               mirror_direction=direction, mirror_instance=demisto.integrationInstance() if direction else None)
    return {
        "name": f"Lookalike of {incident.get('brand', '')}: {shown}",
        "occurred": incident.get("first_seen"),
        "severity": SEVERITY.get(incident.get("severity", ""), 0),
        "rawJSON": json.dumps(raw),
        "dbotMirrorId": incident.get("id"),
        "dbotMirrorDirection": direction,
        "dbotMirrorInstance": raw["mirror_instance"],
    }


def incident_row(incident: dict) -> dict:
    match = incident.get("match") or {}
    return {
        "ID": incident.get("id"),
        "Domain": incident.get("domain_unicode") or incident.get("domain"),
        "Brand": incident.get("brand"),
        "Kind": match.get("kind"),
        "Score": incident.get("score"),
        "Severity": incident.get("severity"),
        "First seen": incident.get("first_seen"),
        "Sightings": incident.get("sightings"),
        "Triage": (incident.get("triage") or {}).get("state"),
    }


# ---------------------------------------------------------------- list sync


def read_xsoar_list(name: str) -> str | None:
    """The named XSOAR list's text; None when XSOAR has no such list."""
    res = demisto.executeCommand("getList", {"listName": name})
    entry = res[0] if isinstance(res, list) and res else {}
    contents = entry.get("Contents") if isinstance(entry, dict) else None
    if is_error(entry) or not isinstance(contents, str) or contents.startswith("Item not found"):
        return None
    return contents


def xsoar_list(name: str) -> str:
    """The named XSOAR list's text, or a clear error when there is none."""
    contents = read_xsoar_list(name)
    if contents is None:
        raise CertSentryError(f"The XSOAR list {name!r} does not exist (create it, e.g. with the playbook "
                              f"'CertSentry - Create list for PTH')")
    return contents


def sync_list(client: Client, name: str) -> dict:
    data = xsoar_list(name)
    try:
        json.loads(data)
    except ValueError as e:
        raise CertSentryError(f"The XSOAR list {name!r} is not JSON ({e}); certsentry keeps its current list") from None
    answer = client.list_replace(data)
    status = answer.get("list") or {}
    return {
        "ListName": name,
        "Brands": status.get("brands"),
        "Variants": status.get("variants"),
        "Source": status.get("source"),
        "SHA256": hashlib.sha256(data.encode("utf-8")).hexdigest(),
    }


def list_sync_due(last_run: dict, interval_minutes: int, now: datetime) -> bool:
    last = last_run.get("list_synced_at")
    if not last:
        return True
    try:
        then = datetime.fromisoformat(last)
    except ValueError:
        return True
    return now - then >= timedelta(minutes=interval_minutes)


# ---------------------------------------------------------------- commands


def test_module(client: Client, params: dict) -> str:
    status = client.status()
    list_status = status.get("list") or {}
    if not list_status.get("loaded_at"):
        raise CertSentryError(f"certsentry has no homograph list loaded: {list_status.get('last_error') or 'not yet'}")
    if params.get("isFetch"):
        parse_first_fetch(params.get("first_fetch", ""), datetime.now(timezone.utc))
        parse_max_fetch(params.get("max_fetch"))
        parse_threshold(params.get("similarity_threshold"))
        # checks the token on the route fetch-incidents uses
        client.incidents(limit=1)
    if params.get("list_name"):
        xsoar_list(params["list_name"])
    return "ok"


def fetch_incidents(client: Client, last_run: dict, params: dict, now: datetime | None = None) -> tuple[dict, list]:
    now = now or datetime.now(timezone.utc)
    max_fetch = parse_max_fetch(params.get("max_fetch"))
    threshold = parse_threshold(params.get("similarity_threshold"))
    min_severity = params.get("min_severity") or "low"
    kinds = argToList(params.get("kinds"))
    mirroring = mirror_direction(params) is not None
    next_run = dict(last_run or {})

    list_name = params.get("list_name")
    if list_name:
        interval = int(params.get("list_update_interval") or DEFAULT_LIST_INTERVAL_MINUTES)
        if list_sync_due(next_run, interval, now):
            try:
                synced = sync_list(client, list_name)
                next_run["list_synced_at"] = now.isoformat()
                next_run["list_sha256"] = synced["SHA256"]
            except CertSentryError as e:
                # the fetch goes on; certsentry keeps its last good list
                demisto.error(f"CertSentry list sync failed: {e}")

    query: dict[str, Any] = {"brand": params.get("brand") or None}
    if len(kinds) == 1:
        query["kind"] = kinds[0]
    cursor = next_run.get("after")
    if not cursor:
        query["since"] = parse_first_fetch(params.get("first_fetch", ""), now)

    incidents: list = []
    for _ in range(MAX_PAGES):
        page = client.incidents(after=cursor, limit=min(max_fetch - len(incidents), MAX_FETCH_CAP) or 1, **query)
        batch = page.get("incidents") or []
        for incident in batch:
            cursor = incident.get("id") or cursor
            # with mirroring, an update (enrichment, a new certificate)
            # reaches the incident it updates instead of opening another
            if mirroring and incident.get("update_of"):
                continue
            if wanted(incident, min_severity, kinds, threshold):
                incidents.append(to_xsoar_incident(incident, params))
        if not batch or not page.get("next") or len(incidents) >= max_fetch:
            break
    if cursor:
        next_run["after"] = cursor
    return next_run, incidents


def mirror_time(value: str) -> str:
    """XSOAR's lastUpdate (ISO 8601, or epoch seconds or milliseconds) as RFC 3339 UTC."""
    text = str(value or "").strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            number = float(text)
            when = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=timezone.utc)
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise CertSentryError(f"skip update: lastUpdate {value!r} is not a time") from None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_modified_remote_data_command(client: Client, args: dict) -> GetModifiedRemoteDataResponse:
    """The certsentry incidents changed since XSOAR's last sync (not the update records)."""
    since = mirror_time(GetModifiedRemoteDataArgs(args).last_update)
    ids: list = []
    cursor = None
    try:
        for _ in range(MAX_PAGES):
            page = client.incidents(modified_since=since, after=cursor, limit=MAX_FETCH_CAP)
            batch = page.get("incidents") or []
            for incident in batch:
                cursor = incident.get("id") or cursor
                if incident.get("id") and not incident.get("update_of"):
                    ids.append(incident["id"])
            if not page.get("next"):
                break
    except CertSentryError as e:
        # tells XSOAR not to go on to get-remote-data this round
        raise CertSentryError(f"skip update: {e}") from None
    return GetModifiedRemoteDataResponse(ids)


def get_remote_data_command(client: Client, args: dict) -> GetRemoteDataResponse:
    """One certsentry incident as it is now, for the incoming mapper."""
    remote = GetRemoteDataArgs(args)
    incident = client.incident(remote.remote_incident_id)
    mirrored = dict(incident, id=incident.get("id") or remote.remote_incident_id,
                    enrichment_summary=enrichment_summary(incident))
    mirrored.pop("triage_history", None)
    return GetRemoteDataResponse(mirrored, [])


def incident_list_command(client: Client, args: dict) -> CommandResults:
    page = client.incidents(after=args.get("after"), limit=arg_to_number(args.get("limit")) or 50,
                            brand=args.get("brand"), severity=args.get("severity"), kind=args.get("kind"),
                            since=args.get("since"))
    incidents = page.get("incidents") or []
    return CommandResults(
        outputs_prefix="CertSentry.Incident",
        outputs_key_field="id",
        outputs=incidents,
        readable_output=tableToMarkdown("certsentry incidents", [incident_row(i) for i in incidents],
                                        headers=list(incident_row({}).keys()), removeNull=True)
        + (f"\nNext page: after={page['next']}" if page.get("next") else ""),
        raw_response=page,
    )


def incident_get_command(client: Client, args: dict) -> CommandResults:
    incident = client.incident(args["id"])
    cert = incident.get("certificate") or {}
    match = incident.get("match") or {}
    md = tableToMarkdown(f"certsentry incident {incident.get('id')}", [incident_row(incident)],
                         headers=list(incident_row({}).keys()), removeNull=True)
    md += f"\n**Why:** {match.get('explanation', '')}\n\n"
    md += tableToMarkdown("Certificate", [{
        "SHA-256": cert.get("sha256"), "Issuer": (cert.get("issuer") or {}).get("aggregated"),
        "Names": ", ".join(cert.get("all_domains") or []), "CT log": (incident.get("ct") or {}).get("log_name"),
    }], removeNull=True)
    return CommandResults(outputs_prefix="CertSentry.Incident", outputs_key_field="id", outputs=incident,
                          readable_output=md, raw_response=incident)


def incident_triage_command(client: Client, args: dict) -> CommandResults:
    incident_id = args.get("id")
    if not incident_id:
        raise CertSentryError("id is required: the certsentry incident ID (the CertSentry Incident ID field)")
    body: dict[str, Any] = {}
    state = args.get("state")
    if state:
        if state not in TRIAGE_STATES:
            raise CertSentryError(f"state {state!r} is not one of {', '.join(TRIAGE_STATES)}")
        body["state"] = state
    for key in ("assignee", "comment"):
        if args.get(key) is not None:
            body[key] = args[key]
    if not body:
        raise CertSentryError("give at least one of state, assignee and comment")
    suppress = args.get("suppress")
    if suppress:
        if suppress not in ("brand", "domain"):
            raise CertSentryError(f"suppress {suppress!r} is not brand or domain")
        body["suppress"] = suppress
    body["actor"] = args.get("actor") or "xsoar"
    incident = client.triage(incident_id, body)
    triage = incident.get("triage") or {}
    md = tableToMarkdown(f"certsentry incident {incident_id} triaged", [{
        "State": triage.get("state"), "Assignee": triage.get("assignee"), "By": triage.get("updated_by"),
        "At": triage.get("updated_at"), "Comments": triage.get("comments"),
    }], removeNull=True)
    suppression = incident.get("suppression")
    if suppression:
        scope = f"for {suppression.get('brand')}" if suppression.get("brand") else "for every brand"
        md += f"\n{suppression.get('domain')} no longer raises incidents {scope} (suppression {suppression.get('id')})."
    return CommandResults(outputs_prefix="CertSentry.Incident", outputs_key_field="id", outputs=incident,
                          readable_output=md, raw_response=incident)


def match_command(client: Client, args: dict) -> CommandResults:
    names = argToList(args.get("names"))
    if not names:
        raise CertSentryError("names must list at least one domain")
    results = client.match(names).get("results") or []
    rows = []
    for r in results:
        rows.append({
            "Name": r.get("name"), "Matched": r.get("matched"), "Brand": r.get("brand"), "Kind": r.get("kind"),
            "Score": r.get("score"), "Severity": r.get("severity"),
            "Why": r.get("explanation") or r.get("error") or ("protected or allowlisted" if r.get("own_domain") else None),
        })
    return CommandResults(outputs_prefix="CertSentry.Match", outputs_key_field="name", outputs=results,
                          readable_output=tableToMarkdown("certsentry verdicts", rows, removeNull=True),
                          raw_response=results)


def list_generate_command(client: Client, args: dict) -> CommandResults:
    domains = argToList(args.get("domains"))
    if not domains:
        raise CertSentryError("domains must list at least one protected domain")
    body: dict[str, Any] = {"domains": domains, "format": args.get("format") or "domains"}
    fuzzers = argToList(args.get("fuzzers"))
    if fuzzers:
        body["fuzzers"] = fuzzers
    if args.get("limit"):
        body["limit"] = arg_to_number(args["limit"])
    list_name = args.get("list_name")
    exists = False
    if list_name:
        # checked before generating: a refusal costs no generation
        exists = read_xsoar_list(list_name) is not None
        if exists and not argToBoolean(args.get("overwrite", "false")):
            raise CertSentryError(f"The XSOAR list {list_name!r} exists; set overwrite=true to replace it")
    elif argToBoolean(args.get("sync", "false")):
        raise CertSentryError("sync=true needs list_name: the XSOAR list to save and push")
    generated = client.generate(body)
    lists = generated
    data = json.dumps(lists, ensure_ascii=False)
    if list_name:
        command = "setList" if exists else "createList"
        res = demisto.executeCommand(command, {"listName": list_name, "listData": data})
        if is_error(res[0]):
            raise CertSentryError(f"Cannot save the XSOAR list {list_name!r}: {get_error(res)}")
    synced = None
    if list_name and argToBoolean(args.get("sync", "false")):
        synced = sync_list(client, list_name)
    counts = [{"Domain": d, "Variants": len(v) if isinstance(v, list) else 0} for d, v in lists.items()]
    md = tableToMarkdown("Generated homograph list", counts)
    if list_name:
        md += f"\nSaved as the XSOAR list **{list_name}**."
    if synced:
        md += f" certsentry now watches {synced['Brands']} brands, {synced['Variants']} variants."
    return CommandResults(outputs_prefix="CertSentry.List", outputs_key_field="Domain",
                          outputs=[{"Domain": d, "Variants": v} for d, v in lists.items()],
                          readable_output=md, raw_response=generated)


def list_get_command(client: Client, args: dict) -> CommandResults:
    current = client.list_current()
    rows = [{"Domain": d, "Variants": len(v) if isinstance(v, list) else 0} for d, v in current.items()]
    return CommandResults(outputs_prefix="CertSentry.List", outputs_key_field="Domain",
                          outputs=[{"Domain": d, "Variants": v} for d, v in current.items()],
                          readable_output=tableToMarkdown("certsentry's active list", rows), raw_response=current)


def list_sync_command(client: Client, args: dict, params: dict) -> CommandResults:
    name = args.get("list_name") or params.get("list_name")
    if not name:
        raise CertSentryError("give list_name, or set the instance's homograph list name")
    synced = sync_list(client, name)
    return CommandResults(outputs_prefix="CertSentry.ListSync", outputs_key_field="ListName", outputs=synced,
                          readable_output=tableToMarkdown("List synced to certsentry", [synced]), raw_response=synced)


def list_reload_command(client: Client, args: dict) -> CommandResults:
    answer = client.list_reload()
    status = answer.get("list") or {}
    return CommandResults(outputs_prefix="CertSentry.ListStatus", outputs=status,
                          readable_output=tableToMarkdown("certsentry list reloaded", [{
                              "Source": status.get("source"), "Brands": status.get("brands"),
                              "Variants": status.get("variants")}]), raw_response=answer)


def status_command(client: Client, args: dict) -> CommandResults:
    status = client.status()
    list_status = status.get("list") or {}
    sinks = status.get("sinks") or []
    md = tableToMarkdown("certsentry", [{
        "Version": status.get("version"), "Source": (status.get("source") or {}).get("kind")
        if isinstance(status.get("source"), dict) else status.get("source"),
        "List": list_status.get("source"), "Brands": list_status.get("brands"),
        "Variants": list_status.get("variants"), "List error": list_status.get("last_error"),
    }], removeNull=True)
    if sinks:
        md += tableToMarkdown("Sinks", sinks, removeNull=True)
    return CommandResults(outputs_prefix="CertSentry.Status", outputs=status, readable_output=md,
                          raw_response=status)


def delivery_list_command(client: Client, args: dict) -> CommandResults:
    page = client.deliveries(state=args.get("state"), sink=args.get("sink"),
                             limit=arg_to_number(args.get("limit")) or 50, after=args.get("after"))
    rows = page.get("deliveries") or []
    return CommandResults(outputs_prefix="CertSentry.Delivery", outputs_key_field="id", outputs=rows,
                          readable_output=tableToMarkdown("certsentry deliveries", rows,
                                                          headers=["id", "sink", "state", "attempts", "domain",
                                                                   "last_error", "next_attempt"], removeNull=True),
                          raw_response=page)


def delivery_retry_command(client: Client, args: dict) -> CommandResults:
    delivery_id = arg_to_number(args.get("id"), arg_name="id", required=True)
    answer = client.delivery_retry(delivery_id)
    return CommandResults(outputs_prefix="CertSentry.Delivery", outputs_key_field="id", outputs=answer,
                          readable_output=f"Delivery {delivery_id} queued again.", raw_response=answer)


COMMANDS = {
    "certsentry-incident-list": incident_list_command,
    "certsentry-incident-get": incident_get_command,
    "certsentry-incident-triage": incident_triage_command,
    "certsentry-match": match_command,
    "certsentry-list-generate": list_generate_command,
    "certsentry-list-get": list_get_command,
    "certsentry-list-reload": list_reload_command,
    "certsentry-status": status_command,
    "certsentry-delivery-list": delivery_list_command,
    "certsentry-delivery-retry": delivery_retry_command,
}


def client_from(params: dict) -> Client:
    url = (params.get("url") or "").strip()
    if not url:
        raise CertSentryError("Set the certsentry URL, e.g. https://certsentry.example.com:8080")
    credentials = params.get("credentials") or {}
    token = credentials.get("password") if isinstance(credentials, dict) else ""
    return Client(url, token or "", verify=not argToBoolean(params.get("insecure", False)),
                  proxy=argToBoolean(params.get("proxy", False)))


def main() -> None:  # pragma: no cover - exercised by the live test
    params = demisto.params()
    command = demisto.command()
    args = demisto.args()
    demisto.debug(f"CertSentry: command {command}")
    try:
        client = client_from(params)
        if command == "test-module":
            return_results(test_module(client, params))
        elif command == "fetch-incidents":
            next_run, incidents = fetch_incidents(client, demisto.getLastRun() or {}, params)
            demisto.setLastRun(next_run)
            demisto.incidents(incidents)
        elif command == "get-modified-remote-data":
            return_results(get_modified_remote_data_command(client, args))
        elif command == "get-remote-data":
            return_results(get_remote_data_command(client, args))
        elif command == "certsentry-list-sync":
            return_results(list_sync_command(client, args, params))
        elif command in COMMANDS:
            return_results(COMMANDS[command](client, args))
        else:
            raise NotImplementedError(f"Command {command} is not implemented")
    except CertSentryError as e:
        return_error(str(e))
    except Exception as e:
        return_error(f"Failed to execute {command}: {e}")


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
