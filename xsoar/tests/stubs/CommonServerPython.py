"""A stand-in for the parts of XSOAR's ``CommonServerPython`` the CertSentry
integration uses, with the same names and behaviour: ``BaseClient`` (over
``requests``), ``CommandResults``, ``tableToMarkdown``, ``return_results``,
``return_error`` and the argument helpers. It is written for running the
integration outside XSOAR; XSOAR itself supplies the real module.
"""

import json
import sys

import demistomock as demisto
import requests

__all__ = [
    "BaseClient", "DemistoException", "CommandResults", "tableToMarkdown", "return_results", "return_error",
    "argToList", "argToBoolean", "arg_to_number", "is_error", "get_error", "EntryType", "EntryFormat",
    "GetRemoteDataArgs", "GetRemoteDataResponse", "GetModifiedRemoteDataArgs", "GetModifiedRemoteDataResponse",
]


class EntryType:
    NOTE = 1
    ERROR = 4


class EntryFormat:
    MARKDOWN = "markdown"
    JSON = "json"


class DemistoException(Exception):
    def __init__(self, message, exception=None, res=None, *args):
        self.res = res
        self.message = message
        self.exception = exception
        super().__init__(message, exception, *args)

    def __str__(self):
        return str(self.message)


class BaseClient:
    """``requests`` with a base URL, default headers, proxy and TLS settings,
    as the real BaseClient: connection problems raise DemistoException, and
    an answer outside ``ok_codes`` raises too (``ok_codes=None`` on a call
    with ``resp_type='response'`` returns any answer)."""

    def __init__(self, base_url, verify=True, proxy=False, ok_codes=(), headers=None, auth=None, timeout=60):
        self._base_url = base_url
        self._verify = verify
        self._ok_codes = ok_codes
        self._headers = headers or {}
        self._auth = auth
        self.timeout = timeout
        self._session = requests.Session()
        if not proxy:
            self._session.trust_env = False

    def _http_request(self, method, url_suffix="", full_url=None, headers=None, auth=None, json_data=None,
                      params=None, data=None, files=None, timeout=None, resp_type="json", ok_codes=None,
                      return_empty_response=False, **kwargs):
        address = full_url or f"{self._base_url}{url_suffix}"
        try:
            res = self._session.request(method, address, verify=self._verify, params=params, data=data,
                                        json=json_data, files=files, headers=headers or self._headers,
                                        auth=auth or self._auth, timeout=timeout or self.timeout)
        except requests.exceptions.SSLError as e:
            raise DemistoException(f"SSL certificate verification failed: {e}", e) from None
        except requests.exceptions.ConnectionError as e:
            raise DemistoException(f"Verify that the server URL parameter is correct and that you have access "
                                   f"to the server from your host. {type(e).__name__}", e) from None
        except requests.exceptions.Timeout as e:
            raise DemistoException(f"Connection timed out: {e}", e) from None
        codes = ok_codes or self._ok_codes
        if codes and res.status_code not in codes or (not codes and resp_type != "response" and not res.ok):
            raise DemistoException(f"Error in API call [{res.status_code}] - {res.reason}\n{res.text}", res=res)
        if resp_type == "response":
            return res
        if resp_type == "text":
            return res.text
        if return_empty_response and not res.content:
            return res
        try:
            return res.json()
        except ValueError as e:
            raise DemistoException(f"Failed to parse json object from response: {res.content!r}", e) from None


class CommandResults:
    def __init__(self, outputs_prefix=None, outputs_key_field=None, outputs=None, readable_output=None,
                 raw_response=None, **kwargs):
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field = outputs_key_field
        self.outputs = outputs
        self.readable_output = readable_output
        self.raw_response = raw_response

    def to_context(self):
        context = {}
        if self.outputs_prefix and self.outputs is not None:
            key = self.outputs_prefix
            if self.outputs_key_field:
                key = f"{key}(val.{self.outputs_key_field} && val.{self.outputs_key_field} == obj.{self.outputs_key_field})"
            context[key] = self.outputs
        return {
            "Type": EntryType.NOTE,
            "ContentsFormat": EntryFormat.JSON,
            "Contents": self.raw_response if self.raw_response is not None else self.outputs,
            "HumanReadable": self.readable_output,
            "EntryContext": context,
        }


class GetRemoteDataArgs:
    """get-remote-data's arguments: the incident's dbotMirrorId and the last sync."""

    def __init__(self, args):
        self.remote_incident_id = args["id"]
        self.last_update = args["lastUpdate"]


class GetRemoteDataResponse:
    """The mirrored object (the remote incident, for the incoming mapper) and entries to add."""

    def __init__(self, mirrored_object, entries):
        self.mirrored_object = mirrored_object
        self.entries = entries

    def extract_for_local(self):
        if self.mirrored_object:
            return [self.mirrored_object] + self.entries
        return self.entries


class GetModifiedRemoteDataArgs:
    def __init__(self, args):
        self.last_update = args["lastUpdate"]


class GetModifiedRemoteDataResponse:
    """The ids of remote incidents modified since the last sync."""

    def __init__(self, modified_incident_ids):
        self.modified_incident_ids = modified_incident_ids

    def to_entry(self):
        return {"EntryContext": {"ids": self.modified_incident_ids}, "Type": EntryType.NOTE,
                "Contents": self.modified_incident_ids}


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", "<br>")


def tableToMarkdown(name, t, headers=None, removeNull=False, **kwargs):
    rows = [t] if isinstance(t, dict) else list(t or [])
    if not headers:
        headers = []
        for row in rows:
            for key in row:
                if key not in headers:
                    headers.append(key)
    if removeNull:
        headers = [h for h in headers if any(row.get(h) not in (None, "", []) for row in rows)]
    md = f"### {name}\n" if name else ""
    if not rows or not headers:
        return md + "**No entries.**\n"
    md += "|" + "|".join(headers) + "|\n" + "|" + "|".join("---" for _ in headers) + "|\n"
    for row in rows:
        md += "|" + "|".join(_cell(row.get(h)) for h in headers) + "|\n"
    return md


def return_results(results):
    if isinstance(results, CommandResults):
        demisto.results(results.to_context())
    elif isinstance(results, GetRemoteDataResponse):
        demisto.results(results.extract_for_local())
    elif isinstance(results, GetModifiedRemoteDataResponse):
        demisto.results(results.to_entry())
    elif isinstance(results, list):
        for r in results:
            return_results(r)
    else:
        demisto.results(results)


def return_error(message, error="", outputs=None):
    demisto.error(message)
    demisto.results({"Type": EntryType.ERROR, "ContentsFormat": "text", "Contents": str(message),
                     "EntryContext": outputs})
    sys.exit(0)


def is_error(entry):
    if isinstance(entry, list):
        return any(is_error(e) for e in entry)
    return isinstance(entry, dict) and entry.get("Type") == EntryType.ERROR


def get_error(entries):
    entries = entries if isinstance(entries, list) else [entries]
    return "\n".join(str(e.get("Contents")) for e in entries if is_error(e))


def argToList(arg, separator=","):
    if not arg:
        return []
    if isinstance(arg, list):
        return arg
    if isinstance(arg, str):
        if arg.startswith("["):
            try:
                return json.loads(arg)
            except ValueError:
                pass
        return [s.strip() for s in arg.split(separator) if s.strip()]
    return [arg]


def argToBoolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in ("true", "yes"):
            return True
        if value.lower() in ("false", "no", ""):
            return False
    if value is None:
        return False
    raise ValueError("Argument does not contain a valid boolean-like value")


def arg_to_number(arg, arg_name=None, required=False):
    if arg in (None, ""):
        if required:
            raise ValueError(f"Missing \"{arg_name}\"" if arg_name else "Missing required argument")
        return None
    if isinstance(arg, (int, float)):
        return int(arg)
    if isinstance(arg, str) and arg.strip().lstrip("-").isdigit():
        return int(arg)
    raise ValueError(f"Invalid number: \"{arg_name}\"=\"{arg}\"" if arg_name else f"\"{arg}\" is not a valid number")
