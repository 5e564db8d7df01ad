"""OCI Generative AI: native request signing (Rust), ``sserpent.oci``, and the mock server's
signature checks.

The differential tests sign the same ``requests.PreparedRequest`` (same RSA key, same ``date``)
with the ``oci`` package's signers and with sserpent's, and compare every resulting header
byte for byte. The mock server verifies signatures with the public key, so the end-to-end tests
show that what sserpent sends is accepted, and that a wrong key is refused.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

oci = pytest.importorskip("oci")
requests = pytest.importorskip("requests")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")

import sserpent  # noqa: E402
from sserpent import _sserpent  # noqa: E402
from sserpent.oci import (  # noqa: E402
    GenerativeAiInference,
    OCIConfigError,
    SecurityTokenSigner,
    Signer,
    load_config,
)
from sserpent.testing import MockServer  # noqa: E402

DEFAULT_TEXT = "Hello! This is the sserpent mock server."
DATE = "Thu, 05 Jan 2014 21:31:40 GMT"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaatenancy"
USER = "ocid1.user.oc1..aaaaaaaauser"
FINGERPRINT = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
KEY_ID = f"{TENANCY}/{USER}/{FINGERPRINT}"
ENDPOINT = "https://inference.generativeai.us-chicago-1.oci.oraclecloud.com"

# The seed's request body (../shared/seeds/000_bcade6eb696b6da5.txt).
SEED_BODY: dict[str, Any] = {
    "compartmentId": "ocid1.compartment.oc1..aaaaaaaacompartment",
    "inferenceRequest": {
        "runtimeType": "COHERE",
        "isStream": True,
        "maxTokens": 500,
        "numGenerations": 1,
        "prompt": "Tell me a joke.",
    },
    "servingMode": {"servingType": "ON_DEMAND", "modelId": "ocid1.generativeaimodel.oc1..model"},
}


def _pem(key: Any, fmt: Any, password: bytes | None = None) -> str:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc).decode("ascii")


def _public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


@pytest.fixture(scope="module")
def key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pkcs8(key: Any) -> str:
    return _pem(key, serialization.PrivateFormat.PKCS8)


@pytest.fixture(scope="module")
def public_pem(key: Any) -> str:
    return _public_pem(key)


@pytest.fixture
def server(public_pem: str) -> Iterator[MockServer]:
    with MockServer(oci_public_key=public_pem) as s:
        yield s


def _config_dir(tmp_path: Path, key_pem: str, extra: str = "", profile: str = "DEFAULT") -> Path:
    key_file = tmp_path / "oci_api_key.pem"
    key_file.write_text(key_pem + "\nOCI_API_KEY\n")  # as the OCI console writes it
    config = tmp_path / "config"
    config.write_text(
        f"[{profile}]\nuser={USER}\nfingerprint={FINGERPRINT}\ntenancy={TENANCY}\n"
        f"region=us-chicago-1\nkey_file={key_file}\n{extra}"
    )
    return config


def _lower(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.items():
        assert k.lower() not in out, f"header {k} twice"
        out[k.lower()] = v if isinstance(v, str) else v.decode("ascii")
    return out


# --- differential: sserpent's signers against the oci package's, byte for byte ----------------

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", f"{ENDPOINT}/20231130/actions/generateText", {"json": SEED_BODY}),
    (
        "POST",
        f"{ENDPOINT}/20231130/actions/chat",
        {"json": {"chatRequest": {"apiFormat": "GENERIC", "messages": [{"content": "héllo ✓"}]}}},
    ),
    ("POST", f"{ENDPOINT}/20231130/actions/chat", {}),  # no body
    ("POST", f"{ENDPOINT}/20231130/actions/chat", {"data": "plain text body"}),
    ("PUT", "https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/b/o/a%20b", {"data": b"\x00\xff"}),
    ("PATCH", f"{ENDPOINT}/20231130/things/1", {"json": [1, 2, 3]}),
    ("GET", f"{ENDPOINT}/20231130/models?compartmentId=ocid1.c&limit=10&page=a%2Fb", {}),
    ("DELETE", "https://example.com:8443/20231130/dedicatedAiClusters/ocid1.x", {}),
    ("HEAD", "http://127.0.0.1:8080/", {}),
    ("POST", "http://[::1]:9000/20231130/actions/generateText?x=1", {"json": {}}),
]


def _prepared(method: str, url: str, kwargs: dict[str, Any]) -> Any:
    return requests.Request(method, url, headers={"date": DATE}, **kwargs).prepare()


@pytest.mark.parametrize("key_format", ["PKCS8", "TraditionalOpenSSL"])
@pytest.mark.parametrize("method,url,kwargs", REQUESTS, ids=[f"{m} {u[-30:]}" for m, u, _ in REQUESTS])
def test_api_key_signer_matches_oci_byte_for_byte(
    key: Any, key_format: str, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    pem = _pem(key, getattr(serialization.PrivateFormat, key_format))
    theirs = oci.signer.Signer(TENANCY, USER, FINGERPRINT, None, private_key_content=pem)
    ours = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pem)

    a = theirs(_prepared(method, url, kwargs))
    b = ours(_prepared(method, url, kwargs))
    assert _lower(b.headers) == _lower(a.headers)
    assert b.body == a.body
    auth = _lower(b.headers)["authorization"]
    assert auth.startswith('Signature algorithm="rsa-sha256",headers="date (request-target) host')
    assert f'keyId="{KEY_ID}"' in auth and auth.endswith(',version="1"')


@pytest.mark.parametrize("method,url,kwargs", REQUESTS[:3] + REQUESTS[6:7])
def test_oci_sign_returns_the_headers_oci_adds(
    pkcs8: str, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    prepared = _prepared(method, url, kwargs)
    before = _lower(prepared.headers)
    signed = oci.signer.Signer(TENANCY, USER, FINGERPRINT, None, private_key_content=pkcs8)(prepared)
    after = _lower(signed.headers)

    got = _sserpent.oci_sign(method, url, dict(before), prepared.body, KEY_ID, pkcs8)
    expected_names = ["date", "host", "content-type"]
    if method in ("POST", "PUT", "PATCH"):
        expected_names += ["content-length", "x-content-sha256"]
    assert list(got) == expected_names + ["authorization"]
    assert got == {k: after[k] for k in got}
    assert set(after) - set(before) <= set(got)

    # Without a date header, `date=` gives it.
    no_date = {k: v for k, v in before.items() if k != "date"}
    assert _sserpent.oci_sign(method, url, no_date, prepared.body, KEY_ID, pkcs8, DATE) == got


def test_session_token_signer_matches_oci(key: Any, pkcs8: str, tmp_path: Path) -> None:
    token = "eyJraWQiOiJzZXNzaW9uIn0.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    theirs = oci.auth.signers.SecurityTokenSigner(token, key)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    for ours in (
        SecurityTokenSigner(token, private_key_content=pkcs8),
        SecurityTokenSigner(token_file=str(token_file), private_key_content=pkcs8),
    ):
        for method, url, kwargs in REQUESTS[:2] + REQUESTS[6:7]:
            a = theirs(_prepared(method, url, kwargs))
            b = ours(_prepared(method, url, kwargs))
            assert _lower(b.headers) == _lower(a.headers)
            assert f'keyId="ST${token}"' in _lower(b.headers)["authorization"]


@pytest.mark.parametrize("key_format", ["PKCS8", "TraditionalOpenSSL"])
def test_encrypted_key_with_pass_phrase_matches_oci(key: Any, key_format: str) -> None:
    pem = _pem(key, getattr(serialization.PrivateFormat, key_format), b"s3cret-phrase")
    assert "ENCRYPTED" in pem
    theirs = oci.signer.Signer(TENANCY, USER, FINGERPRINT, None, "s3cret-phrase", private_key_content=pem)
    ours = Signer(TENANCY, USER, FINGERPRINT, pass_phrase="s3cret-phrase", private_key_content=pem)
    method, url, kwargs = REQUESTS[0]
    assert _lower(ours(_prepared(method, url, kwargs)).headers) == _lower(
        theirs(_prepared(method, url, kwargs)).headers
    )
    with pytest.raises(OCIConfigError, match="encrypted: give its pass_phrase"):
        Signer(TENANCY, USER, FINGERPRINT, private_key_content=pem)
    with pytest.raises(OCIConfigError, match="wrong pass_phrase") as e:
        Signer(TENANCY, USER, FINGERPRINT, pass_phrase="nope-phrase", private_key_content=pem)
    assert "nope-phrase" not in str(e.value)
    # The Rust core alone refuses encrypted keys, naming the remedy.
    with pytest.raises(ValueError, match="encrypted"):
        _sserpent.oci_sign("GET", ENDPOINT, {}, None, KEY_ID, pem)


def test_sign_headers_defaults_the_date_to_now(pkcs8: str) -> None:
    import email.utils
    import time

    headers = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8).sign_headers(
        "POST", f"{ENDPOINT}/20231130/actions/chat", {}, b"{}"
    )
    sent = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
    assert abs(sent - time.time()) < 5
    assert headers["date"].endswith(" GMT")


# --- the seed's requests code against the mock server ---------------------------------------


def _run_seed(url: str, signer: Any) -> list[dict[str, Any]]:
    """The seed's loop (requests.post(..., auth=signer, stream=True), iter_lines), unchanged but
    for the URL and the signer; returns what it printed."""
    printed = []
    response = requests.post(
        url=url + "/20231130/actions/generateText", json=SEED_BODY, auth=signer, stream=True
    )
    for chunk in response.iter_lines():
        if chunk.strip():
            content = json.loads(chunk.decode("utf-8").split(": ", 1)[1])
            printed.append(content)
    return printed


def test_seed_requests_code_with_sserpent_signer(server: MockServer, pkcs8: str) -> None:
    signer = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8)
    printed = _run_seed(server.url, signer)
    assert "".join(c["text"] for c in printed) == DEFAULT_TEXT
    assert all(set(c) == {"id", "text"} for c in printed)
    (req,) = server.requests
    assert req.oci_signature_valid is True and req.oci_key_id == KEY_ID


def test_mock_accepts_the_oci_package_signer(server: MockServer, key: Any, pkcs8: str) -> None:
    """The mock's verifier agrees with the reference signer (and so checks the real scheme)."""
    reference = oci.signer.Signer(TENANCY, USER, FINGERPRINT, None, private_key_content=pkcs8)
    printed = _run_seed(server.url, reference)
    assert "".join(c["text"] for c in printed) == DEFAULT_TEXT
    _run_seed(server.url, oci.auth.signers.SecurityTokenSigner("tok", key))
    assert [r.oci_key_id for r in server.requests] == [KEY_ID, "ST$tok"]


# --- GenerativeAiInference against the mock server --------------------------------------------


def _client(server: MockServer, tmp_path: Path, key_pem: str, **kwargs: Any) -> GenerativeAiInference:
    config = _config_dir(tmp_path, key_pem)
    return GenerativeAiInference(config_file=str(config), service_endpoint=server.url, **kwargs)


def test_generate_text(server: MockServer, tmp_path: Path, pkcs8: str) -> None:
    client = _client(server, tmp_path, pkcs8)
    body = json.loads(json.dumps(SEED_BODY))
    del body["inferenceRequest"]["isStream"]
    stream = client.generate_text(body)
    assert isinstance(stream, sserpent.Stream)
    assert stream.status == 200 and stream.request_id  # opened at call time
    assert "".join(stream.text()) == DEFAULT_TEXT
    assert "isStream" not in body["inferenceRequest"]  # the caller's body is left alone

    (req,) = server.requests
    assert req.path == "/20231130/actions/generateText"
    assert req.json()["inferenceRequest"]["isStream"] is True
    assert req.json()["compartmentId"] == SEED_BODY["compartmentId"]
    assert req.oci_signature_valid is True and req.oci_signature_error is None
    assert req.oci_key_id == KEY_ID
    assert req.headers["content-length"] == str(len(req.body))
    assert req.headers["accept"] == "application/json, text/event-stream"


def test_generate_text_llama_chunks(server: MockServer, tmp_path: Path, pkcs8: str) -> None:
    client = _client(server, tmp_path, pkcs8)
    body = {**SEED_BODY, "inferenceRequest": {"runtimeType": "LLAMA", "prompt": "hi", "maxTokens": 5}}
    chunks = list(client.generate_text(body))
    assert "".join(c.text for c in chunks) == DEFAULT_TEXT
    assert server.requests[0].json()["inferenceRequest"] == {
        "runtimeType": "LLAMA",
        "prompt": "hi",
        "maxTokens": 5,
        "isStream": True,
    }


@pytest.mark.parametrize(
    "chat_request",
    [
        {"apiFormat": "GENERIC", "messages": [{"role": "USER", "content": [{"type": "TEXT", "text": "Hi"}]}]},
        {"apiFormat": "COHERE", "message": "Hi"},
    ],
    ids=["GENERIC", "COHERE"],
)
def test_chat(server: MockServer, tmp_path: Path, pkcs8: str, chat_request: dict[str, Any]) -> None:
    client = _client(server, tmp_path, pkcs8)
    body = {"compartmentId": "c", "servingMode": {"servingType": "ON_DEMAND", "modelId": "m"}}
    stream = client.chat({**body, "chatRequest": chat_request})
    assert "".join(stream.text()) == DEFAULT_TEXT  # COHERE's final whole-text event is no delta
    (req,) = server.requests
    assert req.path == "/20231130/actions/chat"
    assert req.json()["chatRequest"] == {**chat_request, "isStream": True}
    assert req.oci_signature_valid is True


def test_async_generate_text_and_chat(server: MockServer, tmp_path: Path, pkcs8: str) -> None:
    client = _client(server, tmp_path, pkcs8)

    async def main() -> list[str]:
        out = []
        stream = await client.agenerate_text(SEED_BODY)
        assert stream.status == 200
        out.append("".join([t async for t in stream.text()]))
        stream = await client.achat({"chatRequest": {"apiFormat": "COHERE", "message": "Hi"}})
        out.append("".join([t async for t in stream.text()]))
        return out

    assert asyncio.run(main()) == [DEFAULT_TEXT, DEFAULT_TEXT]
    assert [r.oci_signature_valid for r in server.requests] == [True, True]


def test_wrong_key_raises_authentication_error_at_call_time(
    server: MockServer, tmp_path: Path, other_key: Any
) -> None:
    wrong = _pem(other_key, serialization.PrivateFormat.PKCS8)
    client = _client(server, tmp_path, wrong)
    with pytest.raises(sserpent.AuthenticationError) as e:
        client.generate_text(SEED_BODY)
    assert e.value.status_code == 401
    assert e.value.body["code"] == "NotAuthenticated"
    assert "BEGIN" not in str(e.value) and "signature=" not in str(e.value)
    (req,) = server.requests
    assert req.oci_signature_valid is False
    assert req.oci_signature_error == "the signature does not verify"

    async def main() -> None:
        await client.achat({"chatRequest": {"apiFormat": "GENERIC", "messages": []}})

    with pytest.raises(sserpent.AuthenticationError):
        asyncio.run(main())


def test_unsigned_and_tampered_requests_are_refused(server: MockServer, pkcs8: str) -> None:
    server.enqueue(path="/20231130/actions/generateText", status=500)
    url = server.url + "/20231130/actions/generateText"
    r = requests.post(url, json=SEED_BODY)
    assert r.status_code == 401 and r.json()["code"] == "NotAuthenticated"
    assert r.headers["opc-request-id"]

    signer = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8)
    raw = json.dumps(SEED_BODY).encode()
    headers = signer.sign_headers("POST", url, {"content-type": "application/json"}, raw)
    r = requests.post(url, data=raw.replace(b"joke", b"poem"), headers=headers)
    assert r.status_code == 401
    r = requests.post(url, data=raw, headers={k: v for k, v in headers.items() if k != "x-content-sha256"})
    assert r.status_code == 401
    assert server.pending == 1  # refused requests don't take scripted responses
    assert [q.oci_signature_error for q in server.requests] == [
        "no authorization header",
        "x-content-sha256 does not match the body",
        "missing required header \"x-content-sha256\"",
    ]
    # Other providers' paths are not checked.
    assert requests.post(server.base_url + "/chat/completions", json={"model": "m"}).status_code == 200
    assert server.requests[-1].oci_signature_valid is None
    # And the check can be turned off.
    server.require_oci_signature(None)
    assert requests.post(url, json=SEED_BODY).status_code == 500
    assert server.requests[-1].oci_signature_valid is None


def test_mock_server_key_argument(public_pem: str, pkcs8: str) -> None:
    with pytest.raises(ValueError, match="invalid private key|not a valid"):
        MockServer(oci_public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with MockServer() as s:
        s.require_oci_signature(pkcs8)  # a private key PEM gives its public half
        r = requests.post(s.url + "/20231130/actions/chat", json={"chatRequest": {}})
        assert r.status_code == 401
        s.require_oci_signature(public_pem)
        signer = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8)
        r = requests.post(s.url + "/20231130/actions/chat", json={"chatRequest": {}}, auth=signer)
        assert r.status_code == 200 and s.requests[-1].oci_signature_valid is True


def test_session_token_profile(server: MockServer, tmp_path: Path, pkcs8: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("token-one\n")
    config = _config_dir(tmp_path, pkcs8, extra=f"security_token_file={token_file}\n")
    client = GenerativeAiInference(config_file=str(config), service_endpoint=server.url)
    assert "".join(client.generate_text(SEED_BODY).text()) == DEFAULT_TEXT
    token_file.write_text("token-two")  # `oci session refresh`
    stream = client.chat({"chatRequest": {"apiFormat": "COHERE", "message": "x"}})
    assert "".join(stream.text()) == DEFAULT_TEXT
    assert [r.oci_key_id for r in server.requests] == ["ST$token-one", "ST$token-two"]
    assert 'keyId="ST$token-one"' in server.requests[0].headers["authorization"]


def test_signer_hook(server: MockServer, key: Any, pkcs8: str, tmp_path: Path) -> None:
    # The oci package's signers, as requests auth objects; the config file is never read.
    for signer in (
        oci.signer.Signer(TENANCY, USER, FINGERPRINT, None, private_key_content=pkcs8),
        oci.auth.signers.SecurityTokenSigner("instance-token", key),
    ):
        client = GenerativeAiInference(
            config_file=str(tmp_path / "missing"), service_endpoint=server.url, signer=signer
        )
        assert "".join(client.generate_text(SEED_BODY).text()) == DEFAULT_TEXT
        stream = client.chat({"chatRequest": {"apiFormat": "GENERIC", "messages": []}})
        assert "".join(stream.text()) == DEFAULT_TEXT

    # A plain callable that signs in place and returns nothing, used from asyncio too.
    native = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8)
    seen: list[Any] = []

    def sign(request: Any) -> None:
        seen.append((request.method, request.url, request.body))
        native(request)

    client = GenerativeAiInference(service_endpoint=server.url, signer=sign)

    async def main() -> str:
        stream = await client.agenerate_text(SEED_BODY)
        return "".join([t async for t in stream.text()])

    assert asyncio.run(main()) == DEFAULT_TEXT
    assert seen[0][0] == "POST" and seen[0][1] == server.url + "/20231130/actions/generateText"
    assert json.loads(seen[0][2])["inferenceRequest"]["isStream"] is True
    token = "ST$instance-token"
    assert [r.oci_key_id for r in server.requests] == [KEY_ID, KEY_ID, token, token, KEY_ID]
    assert all(r.headers.get("content-length") == str(len(r.body)) for r in server.requests)

    with pytest.raises(TypeError, match="callable"):
        GenerativeAiInference(signer="not a signer")  # type: ignore[arg-type]


# --- configuration -----------------------------------------------------------------------------


def test_config_file_parsing(tmp_path: Path, pkcs8: str, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(pkcs8)
    config = tmp_path / "config"
    config.write_text(
        "[DEFAULT]\n"
        f"tenancy={TENANCY}\nregion=us-ashburn-1\nkey_file={key_file}\n"
        f"fingerprint={FINGERPRINT}\n"
        "[OTHER]\n"
        f"user={USER}\nregion=eu-frankfurt-1\n"
        "[NOKEY]\n"
        "key_file=\nfingerprint=\n"
    )
    monkeypatch.delenv("OCI_REGION", raising=False)
    other = load_config(str(config), "OTHER")
    assert other["tenancy"] == TENANCY and other["user"] == USER  # inherits [DEFAULT]
    assert other["region"] == "eu-frankfurt-1"
    assert repr(Signer.from_config(other)) == f"Signer(key_id={KEY_ID!r})"

    c = GenerativeAiInference(config_file=str(config), profile="OTHER")
    assert c.endpoint == "https://inference.generativeai.eu-frankfurt-1.oci.oraclecloud.com"
    assert GenerativeAiInference(config_file=str(config)).endpoint == (
        "https://inference.generativeai.us-ashburn-1.oci.oraclecloud.com"
    )
    assert GenerativeAiInference(config_file=str(config), region="ap-tokyo-1").endpoint.endswith(
        ".ap-tokyo-1.oci.oraclecloud.com"
    )

    # Lazy: a missing file or profile only matters when it is needed.
    missing = GenerativeAiInference(config_file=str(tmp_path / "nope"), region="us-chicago-1")
    assert missing.endpoint == ENDPOINT
    with pytest.raises(OCIConfigError, match="could not find the OCI config file"):
        missing.generate_text(SEED_BODY)
    with pytest.raises(OCIConfigError, match="profile 'MISSING' not found"):
        load_config(str(config), "MISSING")
    with pytest.raises(OCIConfigError, match="lacks user, fingerprint, key_file"):
        Signer.from_file(str(config), "NOKEY")
    with pytest.raises(OCIConfigError, match="no region"):
        GenerativeAiInference(config={"user": USER}).endpoint  # noqa: B018

    # $OCI_REGION fills a missing region; $OCI_CONFIG_FILE stands in for a missing default file.
    monkeypatch.setenv("OCI_REGION", "sa-saopaulo-1")
    assert load_config(str(config), "NOKEY")["region"] == "us-ashburn-1"  # inherited
    bare = tmp_path / "bare"
    bare.write_text("[DEFAULT]\nuser=u\n")
    assert load_config(str(bare))["region"] == "sa-saopaulo-1"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OCI_CONFIG_FILE", str(config))
    assert load_config()["tenancy"] == TENANCY

    # The request body must be the REST body.
    c = GenerativeAiInference(service_endpoint="http://127.0.0.1:9", config=other)
    with pytest.raises(ValueError, match="inferenceRequest"):
        c.generate_text({"chatRequest": {}})
    with pytest.raises(TypeError, match="body must be a dict"):
        c.chat("hello")  # type: ignore[arg-type]


def test_secrets_stay_out_of_reprs_and_errors(tmp_path: Path, pkcs8: str, key: Any) -> None:
    key_lines = [line for line in pkcs8.splitlines() if line and not line.startswith("-----")]

    def clean(text: str) -> None:
        assert not any(line in text for line in key_lines), text
        assert "secret-token" not in text

    signer = Signer(TENANCY, USER, FINGERPRINT, private_key_content=pkcs8)
    st = SecurityTokenSigner("secret-token", private_key_content=pkcs8)
    clean(repr(signer))
    clean(repr(st))
    assert repr(st) == "SecurityTokenSigner(token=<redacted>)"
    config = _config_dir(tmp_path, pkcs8)
    client = GenerativeAiInference(config_file=str(config))
    client._get_config()
    clean(repr(client))

    broken = pkcs8.replace(key_lines[3], key_lines[3][::-1])
    for pem in (broken, pkcs8.replace("PRIVATE", "PUBLIC"), "junk"):
        with pytest.raises(ValueError) as e:
            _sserpent.oci_sign("POST", ENDPOINT, {}, b"{}", KEY_ID, pem)
        clean(str(e.value))
        assert "invalid private key" in str(e.value)
    with pytest.raises(ValueError, match="keyId") as e:
        _sserpent.oci_sign("POST", ENDPOINT, {}, b"{}", 'ST$secret-token"', pkcs8)
    clean(str(e.value))
    with pytest.raises(ValueError, match="verb TRACE"):
        _sserpent.oci_sign("TRACE", ENDPOINT, {}, None, KEY_ID, pkcs8)

    with MockServer(oci_public_key=_public_pem(key)) as server:
        r = requests.post(server.url + "/20231130/actions/chat", json={}, auth=st)
        assert r.status_code == 200
        clean(repr(server.requests[0]))


# --- the terminator option of Client.stream ----------------------------------------------------


def test_client_stream_terminator() -> None:
    with MockServer() as server:
        body = {"inferenceRequest": {"isStream": True}}
        url = server.url + "/20231130/actions/generateText"
        client = sserpent.Client()
        stream = client.stream("POST", url, json=body, terminator="eof")
        assert "".join(stream.text()) == DEFAULT_TEXT
        # The same body owes `data: [DONE]` when told so.
        stream = client.stream("POST", url, json=body, terminator="done")
        with pytest.raises(sserpent.IncompleteStreamError, match=r"without data: \[DONE\]"):
            list(stream)
        with pytest.raises(ValueError, match="terminator must be"):
            client.stream("POST", url, terminator="never")  # type: ignore[arg-type]

