"""A stand-in for XSOAR's ``demistomock`` module, so an integration runs
outside XSOAR: under pytest, or by hand against a real certsentry.

XSOAR gives an integration its parameters, command and arguments, keeps
``lastRun`` between fetches, and collects what the integration returns. This
module holds all of that in ``STATE``; ``reset()`` starts a fresh run, and
``executeCommand`` answers XSOAR's list built-ins (getList, createList,
setList) from ``STATE["lists"]``.
"""

import copy

STATE = {}


def reset(params=None, command="test-module", args=None, last_run=None, lists=None):
    """A new run of the integration: what XSOAR would hand it."""
    STATE.clear()
    STATE.update({
        "params": copy.deepcopy(params or {}),
        "command": command,
        "args": copy.deepcopy(args or {}),
        "last_run": copy.deepcopy(last_run or {}),
        "lists": lists if lists is not None else STATE.get("lists", {}),
        "results": [],
        "incidents": None,
        "logs": [],
        "integration_context": {},
    })


reset()


def params():
    return STATE["params"]


def command():
    return STATE["command"]


def args():
    return STATE["args"]


def integrationInstance():
    return STATE["params"].get("_instance", "CertSentry_instance_1")


def getLastRun():
    return copy.deepcopy(STATE["last_run"])


def setLastRun(obj):
    STATE["last_run"] = copy.deepcopy(obj)


def incidents(incidents=None):
    STATE["incidents"] = incidents if incidents is not None else []


def results(entry):
    STATE["results"].append(entry)


def getIntegrationContext():
    return copy.deepcopy(STATE["integration_context"])


def setIntegrationContext(ctx):
    STATE["integration_context"] = copy.deepcopy(ctx)


def _log(level, msg):
    STATE["logs"].append((level, str(msg)))


def debug(msg, *args):
    _log("debug", msg)


def info(msg, *args):
    _log("info", msg)


def error(msg, *args):
    _log("error", msg)


def log(msg):
    _log("info", msg)


def executeCommand(name, arguments):
    """XSOAR's list built-ins, answered as XSOAR answers them (entry type 1
    note, 4 error; getList of a missing list says ``Item not found``)."""
    lists = STATE["lists"]
    list_name = arguments.get("listName", "")
    if name == "getList":
        if list_name in lists:
            return [{"Type": 1, "Contents": lists[list_name]}]
        return [{"Type": 1, "Contents": f"Item not found (8) ({list_name})"}]
    if name == "createList":
        if list_name in lists:
            return [{"Type": 4, "Contents": f"List {list_name} already exists"}]
        lists[list_name] = arguments.get("listData", "")
        return [{"Type": 1, "Contents": "Done"}]
    if name == "setList":
        lists[list_name] = arguments.get("listData", "")
        return [{"Type": 1, "Contents": "Done"}]
    return [{"Type": 4, "Contents": f"Unsupported command {name} in the demistomock stand-in"}]
