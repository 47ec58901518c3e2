"""pytest setup for the XSOAR pack: the integration and the stand-ins for
XSOAR's demistomock and CommonServerPython (xsoar/tests/stubs) are imported
as XSOAR would provide them."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "Packs", "CertSentry", "Integrations", "CertSentry")
sys.path[:0] = [os.path.join(HERE, "tests", "stubs"), INTEGRATION]

import demistomock  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_xsoar():
    """Each test is a new run of the integration with no lists."""
    demistomock.reset(lists={})
    yield demistomock
