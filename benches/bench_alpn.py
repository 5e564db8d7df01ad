"""Should ``https://`` offer HTTP/2 by default (ALPN)? sserpent with HTTP/1.1 only (the default,
``Client(http2=False)``) against HTTP/2 offered (``Client(http2=True)``: ALPN ``h2, http/1.1``),
in the same run, interleaved, against one local TLS server that speaks both (issue #18).

The server is hypercorn (HTTP/1.1 by h11, HTTP/2 by the ``h2`` library, TLS by Python's ``ssl``)
in a process of its own, on a self-signed ECDSA P-256 certificate (the key type CDN fronts
commonly serve) made here with ``cryptography`` (the CA goes to sserpent as ``verify=ca.pem``),
answering every POST with an OpenAI chat completion stream, an event per ASGI body message (so
one HTTP/1.1 chunk or one HTTP/2 DATA frame per token, as LLM servers send them), each stamped
with its send time (``x_sent_ns``). It records each request's HTTP version and client address, so connections are
counted on the server's side. hypercorn is slow (pure Python: tens of µs per event), so its
speed bounds the wall-clock figures and the lag; what compares fairly is the client's side: its CPU (the
client runs in its own process: ``time.process_time()``, all of its threads), its connections,
its memory, its time to first chunk. Measured:

- time to first chunk of one stream: on a fresh client (TCP and TLS handshakes included; the
  TLS session may be resumed, as clients with the same trust share rustls' session cache), and
  on a warm client (a pooled connection);
- client CPU per chunk for one long stream (``--long`` chunks back to back);
- N concurrent asyncio streams (``--n``, each ``--chunks`` chunks at ``--interval-ms``), each N
  and protocol in a fresh client process: wall time, client CPU, connections the server saw,
  time to first chunk (p50/p99 from the start of all N), lag of the stamped chunks (receipt
  minus send, p50/p99, first chunks left out) and peak RSS growth per stream;
- a control: the warm first chunk and the long stream against sserpent's Rust mock server
  (``python -m sserpent mock-server``, cleartext: HTTP/1.1 against h2c), a fast server whose
  cost is much the same for both protocols, so the difference there is the client's.

Best (and median) of ``--runs`` runs, the two protocols alternating. Use a release build
(``maturin develop --release``).

    python benches/bench_alpn.py [--quick] [--runs 5] [--n 100 1000] [--long 20000]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import datetime
import json
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from _common import free_port, mock_server_process

HERE = Path(__file__).resolve()
BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
PROTOCOLS = {"HTTP/1.1": False, "HTTP/2": True}  # label -> Client(http2=...)


# --- TLS material -------------------------------------------------------------------------

def make_tls(directory: Path) -> Tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 / localhost, ECDSA P-256 (as
    a key type CDN fronts commonly serve): (ca.pem, server.pem, server.key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sserpent bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the server (its own process) ---------------------------------------------------------

WORDS = ["Hello", " world", ",", " this", " is", " a", " streamed", " answer", " from", " the", " model", "."]
HEAD = ('{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk",'
        '"created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2",')


def chunk_parts(i: int, last: bool) -> Tuple[bytes, bytes]:
    """An event's bytes before and after its send stamp."""
    if last:
        choice = '"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]'
    else:
        content = json.dumps(WORDS[i % len(WORDS)])
        choice = f'"choices":[{{"index":0,"delta":{{"content":{content}}},"logprobs":null,"finish_reason":null}}]'
    return f"data: {HEAD}{choice},\"x_sent_ns\":".encode(), b"}\n\n"


def serve(port: int, cert: str, key: str) -> None:
    from hypercorn.asyncio import serve as hserve
    from hypercorn.config import Config

    raise_fd_limit()
    seen: List[Tuple[str, Tuple[str, int]]] = []
    parts = [chunk_parts(i, False) for i in range(len(WORDS))]
    stop_part = chunk_parts(0, True)

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/stats":
            # The requests seen since the last /stats (this one not counted), then reset.
            body = json.dumps({"requests": len(seen),
                               "connections": len({addr for _, addr in seen}),
                               "versions": sorted({v for v, _ in seen})}).encode()
            seen.clear()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen.append((scope["http_version"], tuple(scope["client"])))
        headers = dict(scope["headers"])
        n = int(headers.get(b"x-chunks", b"20"))
        interval = int(headers.get(b"x-interval-ms", b"0")) / 1000
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(n):
            if interval:
                delay = start + i * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            pre, post = stop_part if i == n - 1 else parts[i % len(parts)]
            await send({"type": "http.response.body", "body": pre + str(time.time_ns()).encode() + post,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = cert, key
    config.alpn_protocols = ["h2", "http/1.1"]
    # hypercorn's default, and RFC 9113's advice: sserpent's http2_max_streams (100) matches.
    config.h2_max_concurrent_streams = 100
    config.backlog = 4096
    config.keep_alive_timeout = 120
    config.loglevel = "WARNING"
    config.accesslog = None
    asyncio.run(hserve(app, config))


class Server:
    def __init__(self, tmp: Path) -> None:
        self.ca, cert, key = make_tls(tmp)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(HERE), "--serve", str(self.port), str(cert), str(key)])
        self.ctx = ssl.create_default_context(cafile=str(self.ca))
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("hypercorn did not start")

    def stats(self) -> Dict[str, Any]:
        """Requests and distinct client connections since the last call (over a connection of
        its own, HTTP/1.1 from the standard library, not counted)."""
        import http.client

        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        c.request("GET", "/stats")
        out = json.loads(c.getresponse().read())
        c.close()
        return out

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- client measurements -------------------------------------------------------------------

def client(url: str, ca: Path, http2: bool) -> Any:
    import sserpent

    return sserpent.Client(base_url=url, verify=str(ca), http2=http2, max_retries=0, read_timeout=120)


def first_chunk_s(c: Any, chunks: int = 5) -> Tuple[float, str]:
    """Seconds from ``stream()`` to the first chunk, and the negotiated version; reads the
    stream to its end."""
    t0 = time.perf_counter()
    with c.stream("POST", "/v1/chat/completions", json=BODY, headers={"x-chunks": str(chunks)}) as s:
        it = iter(s)
        next(it)
        t = time.perf_counter() - t0
        for _ in it:
            pass
        return t, s.http_version


def bench_ttfc(server: Server, runs: int, repeat: int) -> Dict[str, Dict[str, List[float]]]:
    """Per protocol: 'fresh' and 'warm' lists of per-run medians (µs)."""
    out: Dict[str, Dict[str, List[float]]] = {p: {"fresh": [], "warm": []} for p in PROTOCOLS}
    warm = {p: client(server.url, server.ca, h2) for p, h2 in PROTOCOLS.items()}
    for p, c in warm.items():
        _, version = first_chunk_s(c)
        assert version == p, (p, version)
    for r in range(runs):
        order = list(PROTOCOLS.items())[:: 1 if r % 2 == 0 else -1]
        fresh: Dict[str, List[float]] = {p: [] for p in PROTOCOLS}
        pooled: Dict[str, List[float]] = {p: [] for p in PROTOCOLS}
        for _ in range(repeat):
            for p, h2 in order:
                c = client(server.url, server.ca, h2)
                t, version = first_chunk_s(c)
                assert version == p, (p, version)
                fresh[p].append(t * 1e6)
                del c
                pooled[p].append(first_chunk_s(warm[p])[0] * 1e6)
        for p in PROTOCOLS:
            out[p]["fresh"].append(statistics.median(fresh[p]))
            out[p]["warm"].append(statistics.median(pooled[p]))
    server.stats()
    return out


def bench_long(server: Server, runs: int, n: int) -> Dict[str, Dict[str, List[float]]]:
    """Per protocol: client CPU µs/chunk, wall µs/chunk and server CPU µs/chunk of one stream
    of ``n`` chunks back to back, on a warm client."""
    out: Dict[str, Dict[str, List[float]]] = {p: {"cpu": [], "wall": [], "server": []} for p in PROTOCOLS}
    clients = {p: client(server.url, server.ca, h2) for p, h2 in PROTOCOLS.items()}
    for c in clients.values():
        first_chunk_s(c)
    for r in range(runs):
        for p, _ in list(PROTOCOLS.items())[:: 1 if r % 2 == 0 else -1]:
            c = clients[p]
            count = 0
            s0, w0, c0 = server.cpu(), time.perf_counter(), time.process_time()
            with c.stream("POST", "/v1/chat/completions", json=BODY, headers={"x-chunks": str(n)}) as s:
                for chunk in s:
                    chunk.choices[0].delta.content
                    count += 1
                assert s.http_version == p
            c1, w1, s1 = time.process_time(), time.perf_counter(), server.cpu()
            assert count == n, count
            out[p]["cpu"].append((c1 - c0) / n * 1e6)
            out[p]["wall"].append((w1 - w0) / n * 1e6)
            out[p]["server"].append((s1 - s0) / n * 1e6)
    server.stats()
    return out


def bench_control(runs: int, repeat: int, n: int) -> Dict[str, Dict[str, List[float]]]:
    """The same warm first chunk and long stream against sserpent's Rust mock server in another
    process, cleartext (HTTP/1.1, and HTTP/2 with prior knowledge: ``http1=False, http2=True``):
    a server much faster than hypercorn, so what differs is mostly the client's HTTP/2."""
    import sserpent

    with mock_server_process() as (port, _):
        url = f"http://127.0.0.1:{port}"
        clients = {p: sserpent.Client(base_url=url, http1=not h2, http2=h2, max_retries=0)
                   for p, h2 in PROTOCOLS.items()}
        out: Dict[str, Dict[str, List[float]]] = {p: {"warm": [], "cpu": []} for p in PROTOCOLS}

        def first(c: Any) -> Tuple[float, str]:
            t0 = time.perf_counter()
            with c.stream("POST", "/v1/chat/completions", json=BODY, headers={"x-mock-chunks": "5"}) as s:
                it = iter(s)
                next(it)
                t = time.perf_counter() - t0
                for _ in it:
                    pass
                return t, s.http_version

        for p, c in clients.items():
            assert first(c)[1] == p
        for r in range(runs):
            order = list(PROTOCOLS)[:: 1 if r % 2 == 0 else -1]
            samples: Dict[str, List[float]] = {p: [] for p in PROTOCOLS}
            for _ in range(repeat):
                for p in order:
                    samples[p].append(first(clients[p])[0] * 1e6)
            for p in order:
                out[p]["warm"].append(statistics.median(samples[p]))
                count = 0
                c0 = time.process_time()
                with clients[p].stream("POST", "/v1/chat/completions", json=BODY,
                                       headers={"x-mock-chunks": str(n)}) as s:
                    for chunk in s:
                        chunk.choices[0].delta.content if chunk.choices else None
                        count += 1
                out[p]["cpu"].append((time.process_time() - c0) / count * 1e6)
        return out


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def quantile(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


async def concurrent(url: str, ca: Path, http2: bool, n: int, chunks: int, interval_ms: int) -> Dict[str, Any]:
    import sserpent

    c = sserpent.Client(base_url=url, verify=str(ca), http2=http2, max_retries=0, read_timeout=120,
                        connect_timeout=60)
    headers = {"x-chunks": str(chunks), "x-interval-ms": str(interval_ms)}
    lags = array.array("q")
    firsts = array.array("q")
    versions: set = set()
    peak = base_rss = rss_bytes()
    stop = False

    async def sample() -> None:
        nonlocal peak
        while not stop:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.02)

    async def one() -> int:
        first = True
        count = 0
        stream = c.stream("POST", "/v1/chat/completions", json=BODY, headers=headers)
        async for chunk in stream:
            now = time.time_ns()
            count += 1
            if first:
                firsts.append(now - t0_ns)
                first = False
            else:
                lags.append(now - chunk.get("x_sent_ns"))
        versions.add(stream.http_version)
        return count

    sampler = asyncio.create_task(sample())
    t0_ns = time.time_ns()
    w0, c0 = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    w1, c1 = time.perf_counter(), time.process_time()
    stop = True
    await sampler
    errors = [r for r in results if isinstance(r, BaseException)]
    total = sum(r for r in results if isinstance(r, int))
    return {
        "ok": n - len(errors), "errors": len(errors), "first_error": repr(errors[0])[:300] if errors else "",
        "versions": sorted(versions), "wall_s": w1 - w0, "cpu_s": c1 - c0,
        "cpu_us_per_chunk": (c1 - c0) / max(1, total) * 1e6,
        "rss_kib_per_stream": (peak - base_rss) / n / 1024,
        "first_p50_ms": quantile([x / 1e6 for x in firsts], 0.5),
        "first_p99_ms": quantile([x / 1e6 for x in firsts], 0.99),
        "lag_p50_ms": quantile([x / 1e6 for x in lags], 0.5),
        "lag_p99_ms": quantile([x / 1e6 for x in lags], 0.99),
    }


def bench_concurrent(server: Server, runs: int, ns: List[int], chunks: int,
                     interval_ms: int) -> Dict[Tuple[int, str], List[Dict[str, Any]]]:
    out: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
    for n in ns:
        for r in range(runs):
            for p, h2 in list(PROTOCOLS.items())[:: 1 if r % 2 == 0 else -1]:
                server.stats()
                s0 = server.cpu()
                res = subprocess.run(
                    [sys.executable, str(HERE), "--client-run", server.url, str(server.ca), str(int(h2)),
                     str(n), str(chunks), str(interval_ms)],
                    capture_output=True, text=True, timeout=600)
                if res.returncode:
                    raise RuntimeError(res.stderr[-2000:])
                row = json.loads(res.stdout.strip().splitlines()[-1])
                row["server_cpu_s"] = server.cpu() - s0
                st = server.stats()
                row["connections"] = st["connections"]
                row["server_versions"] = st["versions"]
                out.setdefault((n, p), []).append(row)
                print(f"  N={n} {p}: {row['ok']}/{n} ok, {row['connections']} connections, "
                      f"wall {row['wall_s']:.2f} s, client CPU {row['cpu_s']:.2f} s, "
                      f"lag p99 {row['lag_p99_ms']:.1f} ms", file=sys.stderr)
                if row["errors"]:
                    print(f"    first error: {row['first_error']}", file=sys.stderr)
    return out


# --- report --------------------------------------------------------------------------------

def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def row(label: str, h1: List[float], h2: List[float], digits: int = 0, best: Callable = min) -> str:
    b1, b2 = best(h1), best(h2)
    m1, m2 = statistics.median(h1), statistics.median(h2)
    ratio = m2 / m1 if m1 else float("nan")
    return (f"| {label} | {fmt(b1, digits)} ({fmt(m1, digits)}) | {fmt(b2, digits)} ({fmt(m2, digits)}) "
            f"| {ratio:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs, smaller N, shorter streams")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None, help="first-chunk samples per run and protocol")
    ap.add_argument("--long", type=int, default=None, help="chunks of the long stream")
    ap.add_argument("--n", type=int, nargs="*", default=None, help="concurrent streams")
    ap.add_argument("--chunks", type=int, default=None, help="chunks per concurrent stream")
    ap.add_argument("--interval-ms", type=int, default=100, help="pace of the concurrent streams")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--client-run", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    if args.client_run:
        url, ca, h2, n, chunks, interval = args.client_run
        raise_fd_limit()
        res = asyncio.run(concurrent(url, Path(ca), h2 == "1", int(n), int(chunks), int(interval)))
        print(json.dumps(res))
        return
    q = args.quick
    runs = args.runs or (2 if q else 5)
    repeat = args.repeat or (10 if q else 30)
    long_n = args.long or (2_000 if q else 20_000)
    ns = args.n if args.n is not None else ([100] if q else [100, 1000])
    chunks = args.chunks or (10 if q else 30)
    raise_fd_limit()

    import sserpent

    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            print(f"sserpent {sserpent.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
                  f"load {os.getloadavg()[0]:.1f}; hypercorn over TLS (ECDSA P-256), ALPN h2 + http/1.1",
                  file=sys.stderr)
            ttfc = bench_ttfc(server, runs, repeat)
            print("  first chunk: done", file=sys.stderr)
            long = bench_long(server, runs, long_n)
            print("  long stream: done", file=sys.stderr)
            conc = bench_concurrent(server, runs, ns, chunks, args.interval_ms)
            control = bench_control(runs, repeat, long_n)
            print("  control (Rust mock server, cleartext): done", file=sys.stderr)
        finally:
            server.close()
        load = os.getloadavg()[0]

    h1, h2 = "HTTP/1.1", "HTTP/2"
    print(f"\nbest (median) of {runs} runs, HTTP/1.1 (`http2=False`) and HTTP/2 offered (`http2=True`) "
          f"interleaved; load average at the end {load:.1f}\n")
    print("| measure | HTTP/1.1 only | HTTP/2 offered | h2/h1 (medians) |")
    print("|---|---:|---:|---:|")
    print(row(f"first chunk, fresh client (µs, median of {repeat})", ttfc[h1]["fresh"], ttfc[h2]["fresh"]))
    print(row(f"first chunk, warm client (µs, median of {repeat})", ttfc[h1]["warm"], ttfc[h2]["warm"]))
    print(row(f"client CPU per chunk, one stream of {long_n:,} (µs)", long[h1]["cpu"], long[h2]["cpu"], 2))
    print(row("  wall per chunk, same stream (µs; hypercorn-bound)", long[h1]["wall"], long[h2]["wall"], 2))
    print(row("  server CPU per chunk, same stream (µs)", long[h1]["server"], long[h2]["server"], 2))
    failures: List[str] = []
    for n in ns:
        a, b = conc[(n, h1)], conc[(n, h2)]

        def col(key: str, rows: List[Dict[str, Any]]) -> List[float]:
            return [float(r[key]) for r in rows]

        tag = f"{n:,} streams × {chunks} chunks @ {args.interval_ms} ms"
        print(row(f"{tag}: wall (s)", col("wall_s", a), col("wall_s", b), 2))
        print(row(f"{tag}: client CPU (s)", col("cpu_s", a), col("cpu_s", b), 3))
        print(row(f"{tag}: client CPU per chunk (µs)", col("cpu_us_per_chunk", a), col("cpu_us_per_chunk", b), 1))
        print(row(f"{tag}: server CPU (s)", col("server_cpu_s", a), col("server_cpu_s", b), 2))
        print(row(f"{tag}: connections (server side)", col("connections", a), col("connections", b)))
        print(row(f"{tag}: first chunk p50 (ms)", col("first_p50_ms", a), col("first_p50_ms", b), 1))
        print(row(f"{tag}: first chunk p99 (ms)", col("first_p99_ms", a), col("first_p99_ms", b), 1))
        print(row(f"{tag}: lag p50 (ms)", col("lag_p50_ms", a), col("lag_p50_ms", b), 1))
        print(row(f"{tag}: lag p99 (ms)", col("lag_p99_ms", a), col("lag_p99_ms", b), 1))
        print(row(f"{tag}: peak RSS growth per stream (KiB)", col("rss_kib_per_stream", a),
                  col("rss_kib_per_stream", b), 1))
        errs = sum(r["errors"] for r in a + b)
        if errs:
            failures.append(f"{errs} streams failed at N={n}: "
                            f"{next(r['first_error'] for r in a + b if r['errors'])}")
    print(row(f"control, Rust mock server, cleartext (h2c): first chunk, warm (µs, median of {repeat})",
              control[h1]["warm"], control[h2]["warm"]))
    print(row(f"control, Rust mock server, cleartext (h2c): client CPU per chunk, {long_n:,} (µs)",
              control[h1]["cpu"], control[h2]["cpu"], 2))
    for f in failures:
        print(f"\n{f}")

if __name__ == "__main__":
    main()
