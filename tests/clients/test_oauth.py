"""OAuth 2.1 through real parts: panva's oidc-provider (tests/tools/oidc/provider.mjs, a
certified OpenID Provider issuing RFC 9068 JWT access tokens for RFC 8707 resources) and the
official Python SDK's OAuth client provider doing the whole authorization-code + PKCE flow,
discovering through 401 -> protected resource metadata -> authorization server metadata, with
this test driving the provider's login and consent pages over HTTP.

Attacks are tokens the provider mints for another audience, and tokens signed here with chosen
claims: with the provider's real key (expired, other issuer, no typ), with no signature
(`alg: none`), HS256 keyed with the provider's public key, a key the provider never published;
plus a read-only token calling `put` (403 step-up naming the scope), a token for a tenant the
server does not have (403), and tenant B's token on tenant A's session. Each is refused, and
each refusal is in the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
import jwt
import pytest
from conftest import bitatlas_bin, free_port, ok, tool_path, wait_healthz
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = "2025-11-25"


@dataclass
class Setup:
    issuer: str
    mcp_url: str
    base_url: str
    keys: dict
    static_token: str
    data_dir: Path
    log: Path

    def client_token(self, client: str, secret: str, scope: str, resource: str | None = None) -> str:
        resp = httpx2.post(
            f"{self.issuer}/token",
            auth=(client, secret),
            data={"grant_type": "client_credentials", "scope": scope, "resource": resource or self.mcp_url},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def signed(self, claims: dict, *, kid: str = "es-1", typ: str | None = "at+jwt", key=None) -> str:
        if key is None:
            jwk = next(k for k in self.keys["keys"] if k["kid"] == "es-1")
            key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
        headers = {"kid": kid}
        if typ:
            headers["typ"] = typ
        return jwt.encode(claims, key, algorithm="ES256", headers=headers)

    def claims(self, **over) -> dict:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "aud": self.mcp_url,
            "sub": "alice",
            "tenant": "a",
            "scope": "read write",
            "iat": now,
            "exp": now + 300,
        }
        base.update(over)
        return {k: v for k, v in base.items() if v is not None}

    def audit_refusals(self) -> int:
        lines = (self.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
        return sum(1 for l in lines if '"tool":"auth"' in l and "UNAUTHORIZED" in l)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict, secret: bytes) -> str:
    """A token MACed with `secret` (signed by hand: JWT libraries refuse a public key as an
    HMAC secret, which is the attack)."""
    signing_input = b64(b'{"alg":"HS256","typ":"at+jwt","kid":"es-1"}') + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def initialize(url: str, token: str, session: str | None = None) -> httpx2.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL,
    }
    if session:
        headers["Mcp-Session-Id"] = session
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    return httpx2.post(url, headers=headers, json=body)


def open_session(url: str, token: str) -> str:
    resp = initialize(url, token)
    assert resp.status_code == 200, resp.text
    session = resp.headers["mcp-session-id"]
    notify = httpx2.post(
        url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": PROTOCOL,
            "Mcp-Session-Id": session,
        },
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    assert notify.status_code == 202, notify.text
    return session


def call(url: str, token: str, tool: str, args: dict, session: str | None = None) -> httpx2.Response:
    """A `tools/call` in `session` (a new one of `token`'s when none is given)."""
    session = session or open_session(url, token)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL,
    }
    if session:
        headers["Mcp-Session-Id"] = session
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    return httpx2.post(url, headers=headers, json=body)


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    root = Path(tempfile.mkdtemp(prefix="bitatlas-oauth-"))
    as_port, mcp_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{as_port}"
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    keys_path = root / "as-keys.json"
    env = dict(os.environ, OIDC_PROVIDER=tool_path("OIDC_PROVIDER"))
    as_log = open(root / "as.log", "wb")
    provider = subprocess.Popen(
        [tool_path("NODE"), str(ROOT / "tests" / "tools" / "oidc" / "provider.mjs"), str(as_port), mcp_url, str(keys_path)],
        stdout=as_log,
        stderr=as_log,
        env=env,
    )
    as_log.close()
    bitatlas = None
    try:
        deadline = time.monotonic() + 30
        while not keys_path.exists() or not (root / "as.log").read_text().count("listening"):
            assert provider.poll() is None, (root / "as.log").read_text()
            assert time.monotonic() < deadline, "the authorization server did not start"
            time.sleep(0.1)
        data_dir = root / "data"
        token = subprocess.run(
            [bitatlas_bin(), "tokens", "create", "--tenant", "a"], capture_output=True, text=True, check=True
        )
        static_token = token.stdout.strip()
        hash_line = re.search(r'"(sha256:[0-9a-f]{64})"', token.stderr).group(1)
        config = root / "bitatlas.toml"
        config.write_text(
            f"""
[stores.local]
provider = "local"
path = "{root / 'objects'}"
country = "DE"

[tenants.a]
store = "local"
tokens = ["{hash_line}"]

[tenants.b]
store = "local"

[oauth]
issuers = [{{ issuer = "{issuer}", audience = "{mcp_url}", tenant_claim = "tenant" }}]

[oauth.scopes]
read = ["get", "list", "search"]
write = ["put"]
delete = ["delete"]
presign = ["presign"]
"""
        )
        log = root / "server.log"
        out = open(log, "wb")
        bitatlas = subprocess.Popen(
            [bitatlas_bin(), "serve", "--config", str(config), "--data-dir", str(data_dir), "--http", f"127.0.0.1:{mcp_port}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        out.close()
        wait_healthz(f"http://127.0.0.1:{mcp_port}/healthz", bitatlas)
        yield Setup(
            issuer=issuer,
            mcp_url=mcp_url,
            base_url=f"http://127.0.0.1:{mcp_port}",
            keys=json.loads(keys_path.read_text()),
            static_token=static_token,
            data_dir=data_dir,
            log=log,
        )
    finally:
        for p in (bitatlas, provider):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_discovery_metadata_and_challenges(setup: Setup) -> None:
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]:
        resp = httpx2.get(setup.base_url + path)
        assert resp.status_code == 200, (path, resp.text)
        doc = resp.json()
        assert doc["resource"] == setup.mcp_url
        assert doc["authorization_servers"] == [setup.issuer]
        assert set(doc["scopes_supported"]) == {"read", "write", "delete", "presign"}
        assert doc["bearer_methods_supported"] == ["header"]
    resp = httpx2.post(setup.mcp_url, json={})
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert f'resource_metadata="{setup.base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    resp = initialize(setup.mcp_url, "not-a-token")
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_provider_tokens_and_static_tokens_both_work(setup: Setup) -> None:
    token = setup.client_token("ci-a", "secret-a", "read write")
    resp = initialize(setup.mcp_url, token)
    assert resp.status_code == 200, resp.text
    resp = call(setup.mcp_url, token, "put", {"key": "oauth/a.txt", "text": "from a token"})
    assert resp.status_code == 200 and '"isError":true' not in resp.text, resp.text
    resp = call(setup.mcp_url, setup.static_token, "get", {"key": "oauth/a.txt"})
    assert resp.status_code == 200 and "from a token" in resp.text, resp.text
    # The put's records name a pseudonym of the subject, never the subject or the token.
    trail = (setup.data_dir / "audit" / "audit.jsonl").read_text()
    puts = [json.loads(l) for l in trail.splitlines() if '"tool":"put"' in l]
    assert puts and all(len(r.get("subject", "")) == 32 for r in puts), puts
    assert "ci-a" not in trail and token not in trail
    # Tenant b sees nothing of tenant a.
    other = setup.client_token("ci-b", "secret-b", "read")
    resp = call(setup.mcp_url, other, "get", {"key": "oauth/a.txt"})
    assert resp.status_code == 200 and "NOT_FOUND" in resp.text, resp.text


def test_missing_scope_is_a_403_step_up_naming_the_scope(setup: Setup) -> None:
    token = setup.client_token("ci-read", "secret-read", "read")
    resp = call(setup.mcp_url, token, "put", {"key": "oauth/ro.txt", "text": "no"})
    assert resp.status_code == 403, resp.text
    challenge = resp.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="write"' in challenge, challenge
    assert "resource_metadata=" in challenge
    # tools/list shows only what the scopes allow.
    session = open_session(setup.mcp_url, token)
    listed = httpx2.post(
        setup.mcp_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": PROTOCOL,
            "Mcp-Session-Id": session,
        },
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    )
    names = sorted(t["name"] for t in listed.json()["result"]["tools"])
    assert names == ["get", "list", "search"], names
    # Reads pass, and the refused put wrote nothing.
    resp = call(setup.mcp_url, token, "get", {"key": "oauth/ro.txt"})
    assert resp.status_code == 200 and "NOT_FOUND" in resp.text, resp.text


def test_attacks_are_refused_and_audited(setup: Setup) -> None:
    before = setup.audit_refusals()
    public = next(k for k in setup.keys["keys"] if k["kid"] == "es-1")
    public_pem = (
        jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(public))
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = b64(b'{"alg":"none","typ":"at+jwt"}')
    payload = b64(json.dumps(setup.claims()).encode())
    stranger = ec.generate_private_key(ec.SECP256R1())
    attacks = {
        "another audience (real token)": setup.client_token(
            "ci-a", "secret-a", "read write", resource="https://other.example.eu/mcp"
        ),
        "expired": setup.signed(setup.claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        "not yet valid": setup.signed(setup.claims(nbf=int(time.time()) + 3600)),
        "another issuer": setup.signed(setup.claims(iss="http://127.0.0.1:1")),
        "audience of another service": setup.signed(setup.claims(aud="https://other.example.eu/mcp")),
        "not an access token (typ)": setup.signed(setup.claims(), typ="JWT"),
        "no subject": setup.signed(setup.claims(sub=None)),
        "alg none": f"{header}.{payload}.",
        "HS256 keyed with the public key": hs256(setup.claims(), public_pem),
        "unknown kid": setup.signed(setup.claims(), kid="es-2", key=stranger),
        "right kid, wrong key": setup.signed(setup.claims(), key=stranger),
    }
    # The helpers sign tokens the server accepts: each attack differs from this one in one way.
    assert initialize(setup.mcp_url, setup.signed(setup.claims())).status_code == 200
    for name, token in attacks.items():
        resp = initialize(setup.mcp_url, token)
        assert resp.status_code == 401, f"{name}: {resp.status_code} {resp.text}"
        assert 'error="invalid_token"' in resp.headers["www-authenticate"], name
    # A valid token for a tenant this server does not have.
    nobody = setup.client_token("ci-nobody", "secret-nobody", "read")
    resp = initialize(setup.mcp_url, nobody)
    assert resp.status_code == 403, resp.text
    assert setup.audit_refusals() - before >= len(attacks) + 1
    # The server's log never holds a token.
    log = setup.log.read_text(errors="replace")
    for token in attacks.values():
        assert token not in log


def test_sessions_belong_to_their_principal(setup: Setup) -> None:
    a = setup.client_token("ci-a", "secret-a", "read write")
    session = open_session(setup.mcp_url, a)
    b = setup.client_token("ci-b", "secret-b", "read write")
    resp = call(setup.mcp_url, b, "list", {}, session=session)
    assert resp.status_code == 404, resp.text
    # A static token of tenant a is another principal than the OAuth subject ci-a.
    resp = call(setup.mcp_url, setup.static_token, "list", {}, session=session)
    assert resp.status_code == 404, resp.text
    # A fresh token for the same subject (a refresh) keeps the session.
    again = setup.client_token("ci-a", "secret-a", "read")
    resp = call(setup.mcp_url, again, "list", {}, session=session)
    assert resp.status_code == 200 and '"isError":true' not in resp.text, resp.text


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def test_the_sdk_oauth_flow_end_to_end(setup: Setup) -> None:
    """Discovery from the 401, dynamic registration, authorization code with PKCE and the
    resource indicator, login and consent on the provider's pages, then tool calls."""
    redirect_uri = "http://127.0.0.1:9/callback"
    landed: dict[str, str] = {}
    browser = httpx2.AsyncClient(follow_redirects=False)

    async def login_and_consent(authorization_url: str) -> None:
        url = authorization_url
        for _ in range(12):
            resp = await browser.get(url)
            if resp.status_code in (302, 303):
                url = urljoin(url, resp.headers["location"])
                if url.startswith(redirect_uri):
                    q = parse_qs(urlparse(url).query)
                    landed.update({k: v[0] for k, v in q.items()})
                    return
                continue
            assert resp.status_code == 200, resp.text
            action = re.search(r'action="([^"]+)"', resp.text)
            assert action, resp.text
            # The development login page takes any name; the password field is ignored.
            login = {"prompt": "login", "login": "a", "password": "x"}  # pragma: allowlist secret
            form = login if 'name="login"' in resp.text else {"prompt": "consent"}
            resp = await browser.post(urljoin(url, action.group(1)), data=form)
            assert resp.status_code in (302, 303), resp.text
            url = urljoin(url, resp.headers["location"])
        raise AssertionError("the provider never redirected back")

    async def callback() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=landed["code"], state=landed.get("state"), iss=landed.get("iss"))

    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=setup.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="bitatlas-test",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scope="read write",
            token_endpoint_auth_method="client_secret_post",
        ),
        storage=storage,
        redirect_handler=login_and_consent,
        callback_handler=callback,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(setup.mcp_url, http_client=http)) as c:
            put = await ok(c, "put", {"key": "sdk/flow.txt", "text": "through the whole flow"})
            assert put["key"] == "sdk/flow.txt"
            got = await ok(c, "get", {"key": "sdk/flow.txt"})
            assert got["data"] == "through the whole flow"
    await browser.aclose()
    assert storage.tokens is not None and storage.tokens.access_token.count(".") == 2
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == setup.mcp_url and claims["tenant"] == "a"
