"""The schemas shipped in the package are the project's schemas/json/, byte for byte."""
import os
from importlib import resources

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROJECT_SCHEMAS = os.path.join(ROOT, "schemas", "json")
PACKAGED = resources.files("agent_events").joinpath("schemas")


def _names(listing):
    return sorted(n for n in listing if n.endswith(".schema.json"))


@pytest.mark.skipif(not os.path.isdir(PROJECT_SCHEMAS), reason="not in the project's source tree")
def test_packaged_schemas_equal_schemas_json():
    project = _names(os.listdir(PROJECT_SCHEMAS))
    packaged = _names(p.name for p in PACKAGED.iterdir())
    assert packaged == project, "copy schemas/json/*.json to emitters/python/src/agent_events/schemas/"
    for name in project:
        with open(os.path.join(PROJECT_SCHEMAS, name), "rb") as f:
            assert PACKAGED.joinpath(name).read_bytes() == f.read(), \
                f"{name} drifted: copy schemas/json/{name} to emitters/python/src/agent_events/schemas/"
