"""Release metadata: ``server.json`` (the MCP registry entry) validates against the vendored
registry schema, and its version, the MCP Bundle manifest's and Cargo.toml's are one version.

Offline: the schema is a copy in ``tests/data/server.schema.json`` (the published schema named
by ``server.json``'s ``$schema``), and the bundle manifest's schema is the one shipped in the
pinned ``@anthropic-ai/mcpb`` package that ``tests/tools/setup.sh`` installs.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import ROOT, tool_path

SCHEMA_PATH = ROOT / "tests" / "data" / "server.schema.json"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def cargo_version() -> str:
    with (ROOT / "Cargo.toml").open("rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def registry_validator() -> jsonschema.Draft7Validator:
    schema = load(SCHEMA_PATH)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def errors(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_server_json_is_valid_for_the_schema_it_names() -> None:
    server = load(ROOT / "server.json")
    schema = load(SCHEMA_PATH)
    assert server["$schema"] == schema["$id"], (
        "server.json names another schema than tests/data/server.schema.json: "
        "vendor that one (and review the changes) or point $schema back"
    )
    assert errors(registry_validator(), server) == []


def test_the_vendored_schema_rejects_what_the_registry_rejects() -> None:
    # The validator really applies the schema: a few documents the registry refuses.
    validator = registry_validator()
    server = load(ROOT / "server.json")
    bad_name = dict(server, name="bitatlas")
    long_description = dict(server, description="x" * 101)
    no_transport = copy.deepcopy(server)
    del no_transport["packages"][0]["transport"]
    for doc in (bad_name, long_description, no_transport):
        assert errors(validator, doc), doc


def test_versions_agree() -> None:
    version = cargo_version()
    server = load(ROOT / "server.json")
    manifest = load(ROOT / "packaging" / "mcpb" / "manifest.json")
    assert server["version"] == version
    assert manifest["version"] == version
    for package in server["packages"]:
        assert package.get("version", version) == version
        if package["registryType"] == "mcpb":
            url = package["identifier"]
            assert f"/releases/download/v{version}/bitatlas-{version}-" in url, url
            assert url.endswith(".mcpb"), url
            assert package["transport"] == {"type": "stdio"}


def test_bundle_manifest_is_valid_for_the_pinned_mcpb_schema() -> None:
    # dist/cli/cli.js -> dist/mcpb-manifest-v<manifest_version>.schema.json
    manifest = load(ROOT / "packaging" / "mcpb" / "manifest.json")
    dist = Path(tool_path("MCPB")).resolve().parents[1]
    schema_path = dist / f"mcpb-manifest-v{manifest['manifest_version']}.schema.json"
    if not schema_path.exists():
        pytest.fail(f"the pinned mcpb has no schema for manifest_version "
                    f"{manifest['manifest_version']} ({schema_path})")
    schema = load(schema_path)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    assert errors(validator, manifest) == []
