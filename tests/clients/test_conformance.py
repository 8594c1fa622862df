"""The official MCP conformance suite (`@modelcontextprotocol/conformance server`) against the
streamable HTTP endpoint, held to the expected-failures list in conformance-baseline.txt."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import running_server, tool_path

pytestmark = pytest.mark.conformance

BASELINE = Path(__file__).with_name("conformance-baseline.txt")
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def read_baseline() -> list[str]:
    names = []
    for line in BASELINE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line)
    assert len(names) == len(set(names)), "duplicate entries in the baseline"
    return names


def scenario_results(out_dir: Path) -> dict[str, tuple[bool, list[str]]]:
    """scenario -> (passed, problems), read from each scenario's checks.json.

    Like the suite itself, a scenario fails when any check is FAILURE or WARNING."""
    results: dict[str, tuple[bool, list[str]]] = {}
    for d in sorted(out_dir.iterdir()):
        m = RESULT_DIR.match(d.name)
        if not m or not (d / "checks.json").exists():
            continue
        checks = json.loads((d / "checks.json").read_text())
        problems = [
            f"{c.get('id')}: {c.get('status')}: {c.get('errorMessage') or c.get('description')}"
            for c in checks
            if c.get("status") in ("FAILURE", "WARNING")
        ]
        results[m["scenario"]] = (not problems and bool(checks), problems)
    return results


def test_conformance_suite(tmp_path: Path) -> None:
    baseline = read_baseline()
    yaml = tmp_path / "expected-failures.yml"
    yaml.write_text("server:\n" + "".join(f"  - {name}\n" for name in baseline))
    out_dir = tmp_path / "results"
    with running_server("http-legacy") as http:
        cmd = [
            tool_path("NODE"),
            tool_path("CONFORMANCE"),
            "server",
            "--url",
            http.mcp_url,
            "--expected-failures",
            str(yaml),
            "--output-dir",
            str(out_dir),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    results = scenario_results(out_dir)
    assert results, f"the conformance suite ran no scenario:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    passed = sorted(s for s, (ok, _) in results.items() if ok)
    failed = sorted(s for s, (ok, _) in results.items() if not ok)
    unexpected = [s for s in failed if s not in baseline]
    stale = [s for s in baseline if s in passed]
    missing = [s for s in baseline if s not in results]

    # One summary for whoever runs this (shown with `pytest -s` / `cargo test -- --nocapture`).
    print(f"\nconformance scenarios passing ({len(passed)}): {', '.join(passed)}")
    print(f"conformance scenarios baselined ({len(baseline)}): {', '.join(baseline)}")
    for s in unexpected:
        print(f"conformance UNEXPECTED failure {s}: {'; '.join(results[s][1])}")

    assert not unexpected, f"conformance scenarios failing outside the baseline: {unexpected}"
    assert not stale, f"baselined scenarios now pass; remove them from {BASELINE.name}: {stale}"
    assert not missing, f"baselined scenarios were not run by the suite; remove them: {missing}"
    for must in ("server-initialize", "ping", "tools-list", "dns-rebinding-protection"):
        assert must in passed, f"{must} must pass"
    assert proc.returncode == 0, f"conformance exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
