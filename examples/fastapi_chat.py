"""A tiny chat page: the browser POSTs a message and appends the reply's text as it streams in.

The server streams a chat completion from its upstream through sserpent and re-encodes each chunk
as one small SSE event (``{"text": "..."}``, then ``data: [DONE]``) with
``EventSourceResponse(stream, transform=...)``. The page's script reads the response with
``fetch`` and a ``ReadableStream`` reader (``EventSource`` cannot POST), parses the SSE framing
and appends each text delta to the page.

Upstream: ``UPSTREAM_BASE_URL`` (or ``OPENAI_BASE_URL``) with ``OPENAI_API_KEY`` and ``MODEL``;
with neither URL set, sserpent's embedded mock server, paced at 50 ms between chunks.

    python examples/fastapi_chat.py             # then open http://127.0.0.1:8000/
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import sserpent
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sserpent.fastapi import EventSourceResponse

# The embedded mock's reply: 24 chunks, 50 ms apart (request headers the mock server reads).
MOCK_PACING = {"x-mock-chunks": "24", "x-mock-interval-ms": "50"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sserpent chat</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
  #reply { white-space: pre-wrap; min-height: 3rem; border-left: 3px solid #4a8; padding-left: .75rem; }
  #status { color: #777; font-size: 13px; }
</style>
</head>
<body>
<h1>sserpent chat</h1>
<form id="form">
  <input id="prompt" name="prompt" value="Hello!" size="40" autocomplete="off">
  <button id="send" type="submit">Send</button>
</form>
<p id="reply"></p>
<p id="status">idle</p>
<script>
const form = document.getElementById("form");
const reply = document.getElementById("reply");
const status = document.getElementById("status");

// Calls onEvent({event, data}) for each server-sent event in the response body.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const blocks = buffer.split(/\\r\\n\\r\\n|\\n\\n|\\r\\r/);
    buffer = blocks.pop();
    for (const block of blocks) {
      const event = { event: "message", data: [] };
      for (const line of block.split(/\\r\\n|\\n|\\r/)) {
        if (line === "" || line.startsWith(":")) continue;  // comments: pings
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? "" : line.slice(i + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") event.data.push(val);
        else if (field === "event") event.event = val;
      }
      if (event.data.length) onEvent({ event: event.event, data: event.data.join("\\n") });
    }
  }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  reply.textContent = "";
  status.textContent = "streaming";
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify({ message: document.getElementById("prompt").value }),
    });
    if (!response.ok) {
      status.textContent = "error " + response.status + ": " + await response.text();
      return;
    }
    await readEvents(response, ({ data }) => {
      if (data === "[DONE]") { status.textContent = "done"; return; }
      reply.append(JSON.parse(data).text);
    });
    if (status.textContent !== "done") status.textContent = "ended early";
  } catch (err) {
    status.textContent = "error: " + err;
  }
});
</script>
</body>
</html>
"""


def text_event(chunk: Any) -> Optional[dict]:
    """One chunk as ``{"text": delta}``; chunks without text are dropped."""
    choices = chunk.choices
    text = choices[0].delta.content if choices else None
    return {"text": text} if text else None


def create_app(
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    model: Optional[str] = None,
    upstream_headers: Optional[dict] = None,
) -> FastAPI:
    """The chat app. Upstream settings default to the environment (see the module doc);
    ``upstream_headers`` are added to every upstream request (the embedded mock's default:
    ``MOCK_PACING``)."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = base_url or os.environ.get("UPSTREAM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        mock = None
        headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY') or 'mock'}"}
        if not url:
            from sserpent.testing import MockServer

            mock = MockServer()
            url = mock.base_url
            print(f"fastapi_chat: no UPSTREAM_BASE_URL, using the embedded mock server at {url}")
        headers.update(upstream_headers or (MOCK_PACING if mock is not None else {}))
        state["client"] = sserpent.Client(base_url=url, headers=headers)
        state["model"] = model or os.environ.get("MODEL") or "gpt-4o-mini"
        try:
            yield
        finally:
            if mock is not None:
                mock.close()

    app = FastAPI(title="sserpent chat", lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.post("/chat")
    async def chat(request: Request) -> Response:
        message = (await request.json()).get("message", "")
        body = {"model": state["model"], "stream": True, "messages": [{"role": "user", "content": message}]}
        stream = state["client"].stream("POST", "/chat/completions", json=body)
        try:
            await stream.aopen()
        except sserpent.APIStatusError as e:
            return JSONResponse({"error": str(e)}, status_code=e.status_code)
        return EventSourceResponse(stream, transform=text_event, ping=15)

    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
