"""Clients share TLS configurations (``src/transport/tls.rs``): the system's roots are loaded once
per process, a CA bundle's once per bundle, and clients with the same trust settings reuse one
rustls configuration (its verifier and its session cache). What must hold whatever is shared:
every client gets exactly the trust its own arguments ask for, in any order, however many
clients came before it, and a session one client made is never resumed by a client that trusts
other roots.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, List

import pytest
import sserpent
import test_credentials
import test_http2_tls
from test_credentials import SAMPLE_CHUNKS, _stream, _tls_material
from test_http2_tls import BODY, CHUNKS

# The servers of those tests (module-scoped fixtures): a TLS server, and hypercorn offering h2.
tls_server = test_credentials.tls_server
h2_server = test_http2_tls.h2_server
PATH = "/v1/chat/completions"


def _refused(client: sserpent.Client) -> str:
    with pytest.raises(sserpent.APIConnectionError) as e:
        _stream(client)
    assert "certificate" in str(e.value)
    return str(e.value)


def test_clients_with_different_trust_each_get_their_own(tls_server: Any, tmp_path: Path) -> None:
    """Interleaved: the bundle that signed the server, another CA's bundle, the system's roots and
    verify=False; each client behaves as its own arguments say, before and after the others
    connected (and cached sessions for this origin)."""
    url, ca, httpd = tls_server
    other_ca, _, _ = _tls_material(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # verify=False warns (tested in test_credentials)
        for _ in range(3):
            assert _stream(sserpent.Client(base_url=url, verify=str(ca), max_retries=0)) == SAMPLE_CHUNKS
            # A session the first client made is not resumed by clients that trust other roots.
            _refused(sserpent.Client(base_url=url, verify=str(other_ca), max_retries=0))
            assert "UnknownIssuer" in _refused(sserpent.Client(base_url=url, max_retries=0))
            assert _stream(sserpent.Client(base_url=url, verify=False, max_retries=0)) == SAMPLE_CHUNKS
            _refused(sserpent.Client(base_url=url, max_retries=0))


def test_a_client_per_request_with_one_bundle(tls_server: Any) -> None:
    """The pattern the sharing is for (a client built in every request handler), sync and async;
    the clients kept alive together and dropped in any order."""
    url, ca, _ = tls_server
    clients = [sserpent.Client(base_url=url, verify=str(ca), max_retries=0) for _ in range(10)]
    assert all(_stream(c) == SAMPLE_CHUNKS for c in clients)
    del clients[::2]
    assert all(_stream(c) == SAMPLE_CHUNKS for c in clients)

    async def main() -> List[Any]:
        out = []
        for _ in range(5):
            client = sserpent.Client(base_url=url, verify=str(ca), max_retries=0)
            out.append([c.to_dict() async for c in client.stream("POST", PATH, json={})])
        return out

    assert asyncio.run(main()) == [SAMPLE_CHUNKS] * 5


def test_a_bundle_is_kept_by_its_content_not_its_path(tls_server: Any, tmp_path: Path) -> None:
    """The same path rewritten with another CA gives the next client the new trust."""
    url, ca, _ = tls_server
    (tmp_path / "other").mkdir()
    other_ca, _, _ = _tls_material(tmp_path / "other")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.read_bytes())
    assert _stream(sserpent.Client(base_url=url, verify=str(bundle), max_retries=0)) == SAMPLE_CHUNKS
    bundle.write_bytes(other_ca.read_bytes())
    _refused(sserpent.Client(base_url=url, verify=str(bundle), max_retries=0))
    # Both CAs in one bundle: trusted again (a bundle of several roots).
    bundle.write_bytes(other_ca.read_bytes() + ca.read_bytes())
    assert _stream(sserpent.Client(base_url=url, verify=str(bundle), max_retries=0)) == SAMPLE_CHUNKS


def test_many_bundles_past_the_ones_kept(tls_server: Any, tmp_path: Path) -> None:
    """More distinct bundles than the cache keeps (8): older ones are built again when used."""
    url, ca, _ = tls_server
    good = ca.read_bytes()
    bundles = []
    for i in range(12):
        # The same root, made distinct by a comment line (text outside PEM blocks is ignored).
        path = tmp_path / f"b{i}.pem"
        path.write_bytes(f"# bundle {i}\n".encode() + good)
        bundles.append(path)
    for path in bundles + bundles[:3]:
        assert _stream(sserpent.Client(base_url=url, verify=str(path), max_retries=0)) == SAMPLE_CHUNKS


def test_a_bad_bundle_after_a_good_one_is_still_refused(tls_server: Any, tmp_path: Path) -> None:
    url, ca, _ = tls_server
    assert _stream(sserpent.Client(base_url=url, verify=str(ca), max_retries=0)) == SAMPLE_CHUNKS
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="invalid CA bundle"):
        sserpent.Client(base_url=url, verify=str(junk))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="invalid CA bundle"):
        sserpent.Client(base_url=url, verify=str(broken))
    assert _stream(sserpent.Client(base_url=url, verify=str(ca), max_retries=0)) == SAMPLE_CHUNKS


def test_clients_sharing_a_bundle_each_offer_their_own_protocols(h2_server: Any) -> None:
    """One trust configuration, different ALPN offers: each client speaks what it offered."""
    url, ca, app = h2_server
    app.seen.clear()
    for http1, http2, version in [(True, True, "HTTP/2"), (True, False, "HTTP/1.1"), (False, True, "HTTP/2"),
                                  (True, False, "HTTP/1.1"), (True, True, "HTTP/2")]:
        client = sserpent.Client(base_url=url, verify=str(ca), http1=http1, http2=http2, max_retries=0)
        with client.stream("POST", PATH, json=BODY) as stream:
            assert [c.to_dict() for c in stream] == CHUNKS
            assert stream.http_version == version
    assert [v for v, _ in app.seen] == ["2", "1.1", "2", "1.1", "2"]


_SYSTEM_ROOTS = """
import sys, sserpent
url = sys.argv[1]
# Made before the first handshake: the system's roots are read when a handshake needs them.
clients = [sserpent.Client(base_url=url, max_retries=0) for _ in range(3)]
for client in clients:
    chunks = list(client.stream("POST", "/v1/chat/completions", json={}))
    assert len(chunks) == int(sys.argv[2]), len(chunks)
print("ok")
"""


def test_the_system_roots_verify_a_server_they_sign(tls_server: Any) -> None:
    """The default client trusts what the system's store trusts: a fresh process whose store is the
    test CA (``SSL_CERT_FILE``, read by rustls-native-certs) streams from the server."""
    url, ca, _ = tls_server
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_DIR",)}
    env["SSL_CERT_FILE"] = str(ca)
    out = subprocess.run([sys.executable, "-c", _SYSTEM_ROOTS, url, str(len(SAMPLE_CHUNKS))], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


_NO_ROOTS = """
import sys, sserpent
from sserpent.testing import MockServer
# Made without reading the (empty) store; plain http:// needs no roots at all.
client = sserpent.Client(base_url=sys.argv[1], max_retries=0)
with MockServer() as server:
    plain = sserpent.Client(base_url=server.base_url, max_retries=0)
    assert len(list(plain.stream("POST", "/chat/completions", json={"model": "m", "stream": True}))) > 0
try:
    list(client.stream("POST", "/v1/chat/completions", json={}))
except sserpent.APIConnectionError as e:
    print(str(e))
"""


def test_a_system_without_roots_fails_the_handshake_not_the_construction(tls_server: Any) -> None:
    url, _, _ = tls_server
    env = dict(os.environ, SSL_CERT_FILE=os.devnull + ".missing.pem", SSL_CERT_DIR=os.devnull + ".missing")
    out = subprocess.run([sys.executable, "-c", _NO_ROOTS, url], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "No CA certificates were loaded from the system" in out.stdout
