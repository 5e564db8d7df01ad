# ruff: noqa: E501  (the seeds' code is quoted verbatim, long lines included)
'''The streaming code of the articles this project started from (``../shared/seeds/``) runs
unchanged against the mock server once ``from openai import ...`` reads ``from sserpent import
...``; the endpoint and key come from the environment variables the code already reads
(``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT`` / ``AZURE_OPENAI_KEY``).

The code below is copied from the articles character for character, except where the scraped
text lost its indentation (seed 003's ``for`` loop; seed 001's ``client =`` line, indented one
level too deep): there the indentation is restored and nothing else changed.

- 002 (OpenAI cookbook "How to stream completions", Japanese translation): In [2] setup,
  In [3]/[4] a plain completion, In [5] streaming, In [6] the per-chunk timing loop,
  In [7] ``stream_options={"include_usage": True}``.
- 003 (note.com article on the streaming API): ``OpenAI(organization=..., project=...)`` and the
  basic streaming loop.
- 001 (zenn.dev, Azure OpenAI + FastAPI ``StreamingResponse``): the handler; its generator is
  driven directly through the ``StreamingResponse``'s body iterator, no server.
'''

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sserpent
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
DEFAULT_TEXT = "Hello! This is the sserpent mock server."
WORDS = ["Hello!", " This", " is", " the", " sserpent", " mock", " server."]

# --- seed 002 ------------------------------------------------------------------------------------

SEED_002_IN_2 = '''# imports
import time  # for measuring time duration of API calls
from openai import OpenAI
import os
client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "<your OpenAI API key if not set as env var>"))
'''

SEED_002_IN_3 = """# Example of an OpenAI ChatCompletion request
# https://platform.openai.com/docs/guides/text-generation/chat-completions-api

# record the time before the request is sent
start_time = time.time()

# send a ChatCompletion request to count to 100
response = client.chat.completions.create(
    model='gpt-4o-mini',
    messages=[
        {'role': 'user', 'content': 'Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ...'}
    ],
    temperature=0,
)
# calculate the time it took to receive the response
response_time = time.time() - start_time

# print the time delay and text received
print(f"Full response received {response_time:.2f} seconds after request")
print(f"Full response received:\\n{response}")
"""

SEED_002_IN_4 = '''reply = response.choices[0].message
print(f"Extracted reply: \\n{reply}")

reply_content = response.choices[0].message.content
print(f"Extracted content: \\n{reply_content}")
'''

SEED_002_IN_5 = '''# Example of an OpenAI ChatCompletion request with stream=True
# https://platform.openai.com/docs/api-reference/streaming#chat/create-stream

# a ChatCompletion request
response = client.chat.completions.create(
    model='gpt-4o-mini',
    messages=[
        {'role': 'user', 'content': "What's 1+1? Answer in one word."}
    ],
    temperature=0,
    stream=True  # this time, we set stream=True
)

for chunk in response:
    print(chunk)
    print(chunk.choices[0].delta.content)
    print("****************")
'''

SEED_002_IN_6 = """# Example of an OpenAI ChatCompletion request with stream=True
# https://platform.openai.com/docs/api-reference/streaming#chat/create-stream

# record the time before the request is sent
start_time = time.time()

# send a ChatCompletion request to count to 100
response = client.chat.completions.create(
    model='gpt-4o-mini',
    messages=[
        {'role': 'user', 'content': 'Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ...'}
    ],
    temperature=0,
    stream=True  # again, we set stream=True
)
# create variables to collect the stream of chunks
collected_chunks = []
collected_messages = []
# iterate through the stream of events
for chunk in response:
    chunk_time = time.time() - start_time  # calculate the time delay of the chunk
    collected_chunks.append(chunk)  # save the event response
    chunk_message = chunk.choices[0].delta.content  # extract the message
    collected_messages.append(chunk_message)  # save the message
    print(f"Message received {chunk_time:.2f} seconds after request: {chunk_message}")  # print the delay and text

# print the time delay and text received
print(f"Full response received {chunk_time:.2f} seconds after request")
# clean None in collected_messages
collected_messages = [m for m in collected_messages if m is not None]
full_reply_content = ''.join(collected_messages)
print(f"Full conversation received: {full_reply_content}")
"""

SEED_002_IN_7 = '''# Example of an OpenAI ChatCompletion request with stream=True and stream_options={"include_usage": True}

# a ChatCompletion request
response = client.chat.completions.create(
    model='gpt-4o-mini',
    messages=[
        {'role': 'user', 'content': "What's 1+1? Answer in one word."}
    ],
    temperature=0,
    stream=True,
    stream_options={"include_usage": True}, # retrieving token usage for stream response
)

for chunk in response:
    print(f"choices: {chunk.choices}\\nusage: {chunk.usage}")
    print("****************")
'''

# --- seed 003 ------------------------------------------------------------------------------------

SEED_003_ORG = """from openai import OpenAI
client = OpenAI(
organization='YOUR_ORG_ID',
project='$PROJECT_ID',
)
"""

SEED_003_STREAM = """from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
model="gpt-4o-mini",
messages=[{"role": "user", "content": "Say this is a test"}],
stream=True,
)
for chunk in stream:
    if chunk.choices[0].delta.content is not None:
        print(chunk.choices[0].delta.content, end="")
"""

# The article's example of reading rate-limit headers through the raw response.
SEED_003_RAW = """from openai import OpenAI
client = OpenAI()
response = client.chat.completions.with_raw_response.create(
messages=[{
"role": "user",
"content": "Say this is a test",
}],
model="gpt-4o-mini",
)
print(response.headers.get('x-ratelimit-limit-tokens'))
# get the object that `chat.completions.create()` would have returned
completion = response.parse()
print(completion)
"""

# --- seed 001 ------------------------------------------------------------------------------------

SEED_001_MAIN = '''from fastapi.responses import StreamingResponse

...

@app.post("/chat")
async def chat_handler(chat_request: ChatRequest):
    client =  AzureOpenAI(
        api_version="2024-02-01",
        azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
        api_key=os.environ["AZURE_OPENAI_KEY"],
    )
    messages = [{"role": "system", "content": "あなたはありとありとあらゆる情報を知っていて、サービス精神にあふれた人工知能です。ユーザーからの質問にたくさん考えて丁寧な口調で答えます。"}] + chat_request.messages
    model = os.environ["AZURE_OPENAI_CHATGPT_DEPLOYMENT"]

    response = client.chat.completions.create(
        model=model,
        messages=messages,
        temperature=0,
        stream=True,
        max_tokens=800
    )
    def get_gpt_streaming(chat_coroutine):
        collected_chunks = []
        collected_messages = []

        for chunk in chat_coroutine:
            collected_chunks.append(chunk)
            if len(chunk.choices) != 0 and chunk.choices[0].delta.content is not None:
                print(f"Chunk received: {chunk.choices[0].delta.content}")
                chunk_message = chunk.choices[0].delta.content
                collected_messages.append(chunk_message)
                print(f"Message received: {chunk_message}")
                full_reply_content = ''.join(collected_messages)
                print(f"Full conversation received: {full_reply_content}")
                yield chunk_message

    return StreamingResponse(get_gpt_streaming(response), media_type="text/event-stream")
'''
SEED_001_SYSTEM = ("あなたはありとありとあらゆる情報を知っていて、サービス精神にあふれた人工知能です。"
                   "ユーザーからの質問にたくさん考えて丁寧な口調で答えます。")


def swap(code: str, name: str) -> str:
    """The one change: the import."""
    old, new = f"from openai import {name}", f"from sserpent import {name}"
    assert code.count(old) == 1, code
    return code.replace(old, new)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    with MockServer() as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-seed-test")
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            monkeypatch.delenv(name, raising=False)
        yield s


def run_cells(*cells: str) -> Dict[str, Any]:
    """Runs notebook cells one after another in one namespace."""
    ns: Dict[str, Any] = {"__name__": "__seed__"}
    for cell in cells:
        exec(compile(cell, "<seed>", "exec"), ns)
    return ns


def lines(out: str) -> List[str]:
    return out.splitlines()


# --- 002 -----------------------------------------------------------------------------------------


def test_seed_002_plain_completion(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_3, SEED_002_IN_4)
    assert type(ns["client"]) is sserpent.OpenAI
    out = capsys.readouterr().out
    assert re.match(r"Full response received \d+\.\d\d seconds after request\n", out)
    assert out.endswith(f"Extracted content: \n{DEFAULT_TEXT}\n")
    assert f"Extracted reply: \n{ns['reply']}\n" in out
    r = server.requests[-1]
    assert r.path == "/v1/chat/completions"
    assert r.headers["authorization"] == "Bearer sk-seed-test"
    assert r.json()["temperature"] == 0 and "stream" not in r.json()


def test_seed_002_streaming(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    """In [5] over the answer the article shows ("Two."): the recorded stream without its
    include_usage chunk (In [5] does not ask for one, and indexes ``choices[0]``)."""
    frames = (WIRE / "openai_chat_usage.sse").read_bytes().split(b"\n\n")
    server.enqueue(sse=b"\n\n".join(f for f in frames if b'"choices":[]' not in f))
    run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_5)
    out = lines(capsys.readouterr().out)
    # per chunk: the chunk, its content, the separator
    assert len(out) == 3 * 4
    assert out[1::3] == ["", "Two", ".", "None"]
    assert out[2::3] == ["****************"] * 4
    assert all(o.startswith("ChatCompletionChunk(") for o in out[0::3])
    assert '"content":"Two"' in out[3]
    assert server.requests[-1].json()["stream"] is True


def test_seed_002_streaming_default_answer(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_5)
    out = lines(capsys.readouterr().out)
    assert out[1::3] == ["", *WORDS, "None"]


def test_seed_002_timing_loop(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_6)
    out = lines(capsys.readouterr().out)
    pattern = re.compile(r"Message received (\d+\.\d\d) seconds after request: (.*)")
    received = [pattern.fullmatch(line) for line in out[:-2]]
    assert all(received), out
    assert [m.group(2) for m in received if m] == ["", *WORDS, "None"]
    assert re.fullmatch(r"Full response received \d+\.\d\d seconds after request", out[-2])
    assert out[-1] == f"Full conversation received: {DEFAULT_TEXT}"
    assert ns["full_reply_content"] == DEFAULT_TEXT
    assert len(ns["collected_chunks"]) == 9


def test_seed_002_include_usage(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    """In [7] over the recorded answer the article shows: four chunks with usage None, then
    ``choices: []`` with the usage 18 + 2 = 20."""
    server.enqueue(sse_file=str(WIRE / "openai_chat_usage.sse"))
    ns = run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_7)
    out = lines(capsys.readouterr().out)
    assert len(out) == 3 * 5
    choices, usage = out[0::3], out[1::3]
    assert usage[:4] == ["usage: None"] * 4
    assert choices[4] == "choices: []"
    assert usage[4].startswith("usage: CompletionUsage(")
    assert '"prompt_tokens":18,"completion_tokens":2,"total_tokens":20' in usage[4]
    assert all(c.startswith("choices: [Choice(") for c in choices[:4])
    assert ns["chunk"].usage.total_tokens == 20
    assert server.requests[-1].json()["stream_options"] == {"include_usage": True}


def test_seed_002_include_usage_default_answer(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_cells(swap(SEED_002_IN_2, "OpenAI"), SEED_002_IN_7)
    out = lines(capsys.readouterr().out)
    assert out[-3] == "choices: []"
    assert out[1:-3:3] == ["usage: None"] * 9
    u = ns["chunk"].usage
    assert (u.completion_tokens, u.total_tokens) == (7, u.prompt_tokens + 7)


# --- 003 -----------------------------------------------------------------------------------------


def test_seed_003_streaming(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    run_cells(swap(SEED_003_STREAM, "OpenAI"))
    assert capsys.readouterr().out == DEFAULT_TEXT
    r = server.requests[-1]
    assert r.json() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}],
                        "stream": True}


def test_seed_003_organization_and_project(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_cells(swap(SEED_003_ORG, "OpenAI"))
    stream_code = SEED_003_STREAM.split("client = OpenAI()\n", 1)[1]  # reuse that client
    exec(compile(stream_code, "<seed>", "exec"), ns)
    assert capsys.readouterr().out == DEFAULT_TEXT
    h = server.requests[-1].headers
    assert (h["openai-organization"], h["openai-project"]) == ("YOUR_ORG_ID", "$PROJECT_ID")


def test_seed_003_raw_response_headers(server: MockServer, capsys: pytest.CaptureFixture[str]) -> None:
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "This is a test."},
                               "finish_reason": "stop"}]}
    server.enqueue(json=completion, headers={"x-ratelimit-limit-tokens": "150000"})
    ns = run_cells(swap(SEED_003_RAW, "OpenAI"))
    out = lines(capsys.readouterr().out)
    assert out[0] == "150000"
    assert out[1] == "ChatCompletion(" + json.dumps(completion, separators=(",", ":")) + ")"
    assert ns["completion"].choices[0].message.content == "This is a test."
    assert server.requests[-1].json() == {"messages": [{"role": "user", "content": "Say this is a test"}],
                                          "model": "gpt-4o-mini"}


# --- 001 -----------------------------------------------------------------------------------------


def run_seed_001(server: MockServer, monkeypatch: pytest.MonkeyPatch, user_messages: List[Dict[str, str]],
                 sdk: bool = False) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse
    from pydantic import BaseModel

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_KEY", "azure-seed-key")
    monkeypatch.setenv("AZURE_OPENAI_CHATGPT_DEPLOYMENT", "gpt-4o-deploy")

    class ChatRequest(BaseModel):
        messages: list

    # the article's "..." stands for its imports and app: these
    ns: Dict[str, Any] = {"os": __import__("os"), "app": FastAPI(), "ChatRequest": ChatRequest}
    import_line = "from openai import AzureOpenAI\n"
    exec(import_line if sdk else swap(import_line, "AzureOpenAI"), ns)
    exec(compile(SEED_001_MAIN, "<seed>", "exec"), ns)
    assert (ns["AzureOpenAI"] is sserpent.AzureOpenAI) is not sdk

    async def call() -> Any:
        response = await ns["chat_handler"](ChatRequest(messages=user_messages))
        assert isinstance(response, StreamingResponse)
        assert response.media_type == "text/event-stream"
        return [piece async for piece in response.body_iterator]

    return asyncio.run(call())


def test_seed_001_azure_fastapi_handler(server: MockServer, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    server.enqueue(sse_file=str(WIRE / "azure_chat.sse"))
    user = [{"role": "user", "content": "なぞなぞを出して"}]
    pieces = run_seed_001(server, monkeypatch, user)
    # the role chunk's content "" is not None: the generator yields it, as it would with the SDK
    assert pieces == ["", "なぜ", "コンピュータ", "は", "寒い", "？"]
    out = lines(capsys.readouterr().out)
    assert out[-1] == "Full conversation received: なぜコンピュータは寒い？"
    assert [line[len("Message received: "):] for line in out if line.startswith("Message received: ")] == pieces
    r = server.requests[-1]
    assert (r.path, r.query) == ("/openai/deployments/gpt-4o-deploy/chat/completions", "api-version=2024-02-01")
    assert r.headers["api-key"] == "azure-seed-key"
    assert r.json() == {"model": "gpt-4o-deploy", "messages": [{"role": "system", "content": SEED_001_SYSTEM}, *user],
                        "temperature": 0, "stream": True, "max_tokens": 800}


def test_seed_001_default_answer(server: MockServer, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The mock's own Azure stream (prompt-filter chunk first) through the same handler."""
    pieces = run_seed_001(server, monkeypatch, [{"role": "user", "content": "hi"}])
    assert pieces == ["", *WORDS]
    assert lines(capsys.readouterr().out)[-1] == f"Full conversation received: {DEFAULT_TEXT}"


# --- the same code with the openai SDK prints the same -------------------------------------------


def test_seeds_print_what_they_print_with_the_sdk(server: MockServer, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Seeds 003 and 002 In [6] (timings masked), unswapped with the openai SDK and swapped with
    sserpent, against the same mock answer: the same output."""
    outputs = []
    for swapped in (False, True):
        run_cells(swap(SEED_003_STREAM, "OpenAI") if swapped else SEED_003_STREAM)
        run_cells(swap(SEED_002_IN_2, "OpenAI") if swapped else SEED_002_IN_2, SEED_002_IN_6)
        outputs.append(re.sub(r"\d+\.\d\d seconds", "T seconds", capsys.readouterr().out))
    assert outputs[1] == outputs[0]
    assert outputs[0].startswith(DEFAULT_TEXT + "Message received T seconds after request: \n")


def test_seed_001_yields_what_it_yields_with_the_sdk(server: MockServer, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    server.enqueue(sse_file=str(WIRE / "azure_chat.sse"))
    ss_pieces = run_seed_001(server, monkeypatch, [{"role": "user", "content": "q"}])
    ss_out = capsys.readouterr().out
    server.enqueue(sse_file=str(WIRE / "azure_chat.sse"))
    sdk_pieces = run_seed_001(server, monkeypatch, [{"role": "user", "content": "q"}], sdk=True)
    assert ss_pieces == sdk_pieces
    assert ss_out == capsys.readouterr().out
