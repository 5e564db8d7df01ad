"""Credential hygiene: API keys, bearer tokens, OCI private keys, session tokens and request
signatures never show in a log record, a warning, an exception (``str``, ``repr``, fields) or the
``repr`` of a client or stream, through successful streams, HTTP errors, redirects and connection
failures, sync and on asyncio; a redirect to another origin carries none of them. TLS: verification
is on by default (a server whose CA is unknown is refused with a typed error), ``verify=<CA bundle>``
trusts that CA, and ``verify=False`` warns.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import logging
import re
import ssl
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import sserpent
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from live_helpers import WIRE, closed_port
from sserpent.oci import GenerativeAiInference, SecurityTokenSigner
from sserpent.testing import MockServer

OPENAI_KEY = "sk-proj-HYGIENE-openai-6f1d2c9b8a7e"
AZURE_KEY = "HYGIENE-azure-key-3c4d5e6f7a8b9c0d"
AZURE_TOKEN = "eyJHYGIENE.azure-ad-token.c2lnbmF0dXJl"
ANTHROPIC_KEY = "sk-ant-api03-HYGIENE-anthropic-9a8b7c6d"
ANTHROPIC_TOKEN = "HYGIENE-anthropic-oauth-token-5e4f3a2b"
OCI_SESSION_TOKEN = "HYGIENE-oci-session-token-1a2b3c4d5e6f"
MESSAGES = [{"role": "user", "content": "Hello"}]
OCI_BODY = {
    "compartmentId": "ocid1.compartment.oc1..aaaaaaaahygiene",
    "servingMode": {"servingType": "ON_DEMAND", "modelId": "ocid1.generativeaimodel.oc1..model"},
    "chatRequest": {
        "apiFormat": "GENERIC",
        "messages": [{"role": "USER", "content": [{"type": "TEXT", "text": "Hi"}]}],
    },
}
# A 401 that echoes nothing of the request.
UNAUTHORIZED = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": None}}

_OCI_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OCI_PRIVATE_PEM = _OCI_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode("ascii")
OCI_PUBLIC_PEM = (
    _OCI_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)
OCI_CONFIG = {
    "user": "ocid1.user.oc1..aaaaaaaahygiene",
    "fingerprint": "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34",
    "tenancy": "ocid1.tenancy.oc1..aaaaaaaahygiene",
    "region": "us-chicago-1",
    "key_content": OCI_PRIVATE_PEM,
}
# Every line of the private key's base64 body is a secret on its own.
OCI_KEY_LINES = [line for line in OCI_PRIVATE_PEM.splitlines() if line and not line.startswith("-----")]

STATIC_SECRETS = [OPENAI_KEY, AZURE_KEY, AZURE_TOKEN, ANTHROPIC_KEY, ANTHROPIC_TOKEN, OCI_SESSION_TOKEN,
                  *OCI_KEY_LINES]


# --- capturing everything that could leak ------------------------------------------------------


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Tuple[Collector, List[warnings.WarningMessage]]]:
    """Every log record (the root logger at DEBUG) and every warning while the test runs."""
    root = logging.getLogger()
    handler = Collector()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler, caught
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def texts_of_record(record: logging.LogRecord) -> List[str]:
    out = [record.getMessage(), str(record.msg), repr(record.args)]
    if record.exc_info:
        out.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        out.append(record.exc_text)
    if record.stack_info:
        out.append(record.stack_info)
    return out


def texts_of_exception(e: BaseException) -> List[str]:
    out = [str(e), repr(e), repr(e.args), repr(getattr(e, "__dict__", {}))]
    if e.__cause__ is not None:
        out += texts_of_exception(e.__cause__)
    if e.__context__ is not None and e.__context__ is not e.__cause__:
        out += texts_of_exception(e.__context__)
    return out


def oci_signatures(server: MockServer) -> List[str]:
    """The signatures the OCI client sent (each a secret: a replayable credential)."""
    sigs = []
    for r in server.requests:
        m = re.search(r'signature="([^"]+)"', r.headers.get("authorization", ""))
        if m:
            sigs.append(m.group(1))
    return sigs


def assert_clean(texts: List[str], secrets: List[str]) -> None:
    assert secrets
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:300]!r}"


# --- the providers, with every kind of credential ---------------------------------------------


def make_clients(url: str, is_async: bool, **kw: Any) -> List[Tuple[str, Any, Callable[[Any], Any]]]:
    """(name, client, call) for every provider and credential kind, against ``url``."""
    a = is_async
    openai_cls = sserpent.AsyncOpenAI if a else sserpent.OpenAI
    azure_cls = sserpent.AsyncAzureOpenAI if a else sserpent.AzureOpenAI
    anthropic_cls = sserpent.AsyncAnthropic if a else sserpent.Anthropic

    def chat(c: Any) -> Any:
        return c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)

    def messages(c: Any) -> Any:
        return c.messages.create(model="claude-test", max_tokens=64, messages=MESSAGES, stream=True)

    retries = {"max_retries": 0, "timeout": kw.get("timeout", 10.0)}
    oci_opts = {"max_retries": 0, "read_timeout": kw.get("timeout", 10.0)}
    return [
        ("openai", openai_cls(base_url=url + "/v1", api_key=OPENAI_KEY, **retries), chat),
        ("azure api-key", azure_cls(azure_endpoint=url, api_version="2024-10-21", azure_deployment="d",
                                    api_key=AZURE_KEY, **retries), chat),
        ("azure bearer", azure_cls(azure_endpoint=url, api_version="2024-10-21", azure_deployment="d",
                                   azure_ad_token=AZURE_TOKEN, **retries), chat),
        ("anthropic x-api-key", anthropic_cls(base_url=url, api_key=ANTHROPIC_KEY, **retries), messages),
        ("anthropic bearer", anthropic_cls(base_url=url, auth_token=ANTHROPIC_TOKEN, **retries), messages),
        ("oci api key", GenerativeAiInference(config=OCI_CONFIG, service_endpoint=url, **oci_opts),
         (lambda c: c.achat(OCI_BODY)) if a else (lambda c: c.chat(OCI_BODY))),
        ("oci session token", GenerativeAiInference(
            service_endpoint=url,
            signer=SecurityTokenSigner(OCI_SESSION_TOKEN, private_key_content=OCI_PRIVATE_PEM), **oci_opts),
         (lambda c: c.achat(OCI_BODY)) if a else (lambda c: c.chat(OCI_BODY))),
    ]


def consume(client: Any, call: Callable[[Any], Any], is_async: bool) -> Tuple[List[Any], List[Any]]:
    """Opens and reads one stream: (the objects to scan, the exceptions raised)."""
    seen: List[Any] = [client, getattr(client, "_client", None)]
    errors: List[Any] = []
    if not is_async:
        try:
            stream = call(client)
            seen += [stream, stream.url, stream.headers]
            for chunk in stream:
                seen.append(chunk)
        except sserpent.SserpentError as e:
            errors.append(e)
        return seen, errors

    async def main() -> None:
        try:
            stream = await call(client)
            seen.extend([stream, stream.url, stream.headers])
            async for chunk in stream:
                seen.append(chunk)
        except sserpent.SserpentError as e:
            errors.append(e)

    asyncio.run(main(), debug=True)
    return seen, errors


SCENARIOS = ["success", "unauthorized", "redirect_same_origin", "redirect_cross_origin", "reset_before_headers",
             "cut_mid_stream", "read_timeout", "connection_refused"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "asyncio"])
def test_secrets_never_leak(captured: Any, is_async: bool) -> None:
    """Also through the ``sserpent`` logger and the OpenTelemetry spans (content capture on)."""
    handler, caught = captured
    spans = _instrumented()
    scanned: List[str] = []
    signatures: List[str] = []
    expected_errors = {
        "unauthorized": sserpent.AuthenticationError,
        "reset_before_headers": sserpent.APIConnectionError,
        "cut_mid_stream": sserpent.IncompleteStreamError,
        "read_timeout": sserpent.APITimeoutError,
        "connection_refused": sserpent.APIConnectionError,
    }
    for scenario in SCENARIOS:
        with MockServer(oci_public_key=OCI_PUBLIC_PEM) as server, MockServer() as other:
            url = f"http://127.0.0.1:{closed_port()}" if scenario == "connection_refused" else server.url
            timeout = 0.3 if scenario == "read_timeout" else 10.0
            for name, client, call in make_clients(url, is_async, timeout=timeout):
                server.reset()
                other.reset()
                target = {"openai": "/v1/chat/completions", "azure": "/openai/deployments/d/chat/completions",
                          "anthropic": "/v1/messages", "oci": "/20231130/actions/chat"}[name.split()[0]]
                if scenario == "unauthorized":
                    server.enqueue(status=401, json=UNAUTHORIZED)
                elif scenario == "redirect_same_origin":
                    server.enqueue(status=307, headers={"location": target + "?api-version=2024-10-21"
                                                        if name.startswith("azure") else target}, body=b"")
                elif scenario == "redirect_cross_origin":
                    server.enqueue(status=307, headers={"location": other.url + target}, body=b"")
                elif scenario == "reset_before_headers":
                    server.enqueue(close_before_headers=True, reset=True)
                elif scenario == "cut_mid_stream":
                    server.enqueue(cut_after=2, cut_mid_event=True)
                elif scenario == "read_timeout":
                    server.enqueue(stall_after=2)
                seen, errors = consume(client, call, is_async)
                want = expected_errors.get(scenario)
                if want is None:
                    assert errors == [], (scenario, name, errors)
                else:
                    assert len(errors) == 1 and isinstance(errors[0], want), (scenario, name, errors)
                if scenario == "redirect_cross_origin":
                    (moved,) = other.requests
                    values = " ".join(f"{k}: {v}" for k, v in moved.headers.items())
                    assert_clean([values], STATIC_SECRETS)  # nothing of the credential crossed over
                    assert "authorization" not in moved.headers
                if scenario != "connection_refused":
                    assert server.requests, (scenario, name)
                    first = server.requests[0]
                    if name.startswith("oci"):
                        assert first.oci_signature_valid is True, (scenario, name)
                signatures += oci_signatures(server)
                scanned += [repr(x) for x in seen] + [str(x) for x in seen]
                for e in errors:
                    scanned += texts_of_exception(e)
    assert signatures, "the OCI requests were signed"
    secrets = STATIC_SECRETS + signatures
    assert_clean(scanned, secrets)
    if spans is not None:
        sserpent.uninstrument()
        finished = spans.get_finished_spans()
        assert len(finished) == len(SCENARIOS) * 7, len(finished)  # one per request
        assert_clean([span.to_json() for span in finished], secrets)
    assert any(r.name == "sserpent" and r.levelno == logging.WARNING for r in handler.records)
    assert any(r.name == "sserpent" and r.levelno == logging.DEBUG for r in handler.records)
    records = [t for r in handler.records for t in texts_of_record(r)]
    assert_clean(records, secrets)
    assert_clean([str(w.message) for w in caught] + [w.filename for w in caught], secrets)


@pytest.fixture(autouse=True)
def _uninstrument_after() -> Iterator[None]:
    yield
    sserpent.uninstrument()


def _instrumented() -> Any:
    """An in-memory span exporter behind sserpent.instrument(capture_content=True), or None
    without opentelemetry-sdk."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        return None
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sserpent.instrument(tracer_provider=provider, capture_content=True)
    return exporter


def test_the_scan_would_see_a_leak(captured: Any) -> None:
    """The scanner is not blind: a record or exception that carries a key is caught."""
    handler, _ = captured
    logging.getLogger("sserpent.test").debug("sending %s", {"authorization": f"Bearer {OPENAI_KEY}"})
    records = [t for r in handler.records for t in texts_of_record(r)]
    with pytest.raises(AssertionError, match="a secret leaked"):
        assert_clean(records, STATIC_SECRETS)
    with pytest.raises(AssertionError, match="a secret leaked"):
        assert_clean(texts_of_exception(RuntimeError(OCI_KEY_LINES[5])), STATIC_SECRETS)


# --- TLS: verification on by default, a custom CA bundle, verify=False -------------------------


def _tls_material(tmp: Path) -> Tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate it signed for 127.0.0.1 / localhost:
    (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sserpent test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp / "ca.pem", tmp / "server.pem", tmp / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


SAMPLE = (WIRE / "openai_chat_usage.sse").read_bytes()
SAMPLE_CHUNKS = [json.loads(b[len("data: "):]) for b in SAMPLE.split(b"\n\n") if b and b != b"data: [DONE]"]


class _SSEHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.request.do_handshake()  # a refused handshake ends here (handle_error is quiet)
        super().setup()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.auth.append(self.headers.get("authorization"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(SAMPLE)))
        self.end_headers()
        self.wfile.write(SAMPLE)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are counted, not printed


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Path, Any]]:
    """A TLS SSE server on loopback: (its https URL, the CA bundle that signed it, the server)."""
    ca, cert, key = _tls_material(tmp_path_factory.mktemp("tls"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd = _TLSServer(("127.0.0.1", 0), _SSEHandler)
    httpd.auth = []  # type: ignore[attr-defined]
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca, httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _stream(client: sserpent.Client) -> List[Any]:
    return [c.to_dict() for c in client.stream("POST", "/v1/chat/completions", json={"stream": True})]


def test_tls_verification_is_on_by_default(tls_server: Any) -> None:
    url, _, httpd = tls_server
    before = len(httpd.auth)
    client = sserpent.Client(base_url=url, max_retries=0)
    with pytest.raises(sserpent.APIConnectionError) as e:
        _stream(client)
    assert type(e.value) is sserpent.APIConnectionError
    assert "certificate" in str(e.value) and "UnknownIssuer" in str(e.value)
    assert f"POST {url}/v1/chat/completions" in str(e.value)
    assert len(httpd.auth) == before  # the handshake failed: no request was sent

    async def main() -> None:
        with pytest.raises(sserpent.APIConnectionError, match="certificate"):
            await client.stream("POST", "/v1/chat/completions", json={}).aopen()

    asyncio.run(main())


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_custom_ca_bundle(tls_server: Any, as_path: bool) -> None:
    url, ca, _ = tls_server
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CA bundle is no reason to warn
        client = sserpent.Client(base_url=url, verify=ca if as_path else str(ca), max_retries=0)
    assert _stream(client) == SAMPLE_CHUNKS

    async def main() -> List[Any]:
        return [c.to_dict() async for c in client.stream("POST", "/v1/chat/completions", json={})]

    assert asyncio.run(main()) == SAMPLE_CHUNKS


def test_custom_ca_bundle_through_a_provider_client(tls_server: Any) -> None:
    url, ca, httpd = tls_server
    client = sserpent.OpenAI(base_url=url + "/v1", api_key=OPENAI_KEY, verify=str(ca), max_retries=0)
    chunks = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert [c.to_dict() for c in chunks] == SAMPLE_CHUNKS
    assert httpd.auth[-1] == f"Bearer {OPENAI_KEY}"


def test_verify_false_warns_and_connects(tls_server: Any) -> None:
    url, _, _ = tls_server
    with pytest.warns(UserWarning, match="disables TLS certificate verification"):
        client = sserpent.Client(base_url=url, verify=False, max_retries=0)
    assert _stream(client) == SAMPLE_CHUNKS


def test_bad_ca_bundles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read CA bundle"):
        sserpent.Client(verify=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="invalid CA bundle"):
        sserpent.Client(verify=str(junk))


def test_a_ca_bundle_trusts_only_what_it_signed(tls_server: Any, tmp_path: Path) -> None:
    """Another CA's bundle does not make the server trusted."""
    url, _, _ = tls_server
    other_ca, _, _ = _tls_material(tmp_path)
    client = sserpent.Client(base_url=url, verify=str(other_ca), max_retries=0)
    with pytest.raises(sserpent.APIConnectionError, match="certificate"):
        _stream(client)

