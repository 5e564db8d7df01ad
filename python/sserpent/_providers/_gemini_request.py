"""The Gemini request body, as the google-genai SDK builds it from ``contents=`` and
``config=`` (``_GenerateContentParameters_to_mldev`` and ``t_contents`` in the SDK): the
contents as a list of ``{"role", "parts"}``, the config split between ``generationConfig`` and
the fields that sit beside it (``systemInstruction``, ``tools``, ``toolConfig``,
``safetySettings``, ...), every key in the wire's camelCase.

Plain data (dicts, lists, strings) in; the SDK's pydantic objects (``types.Content``,
``types.GenerateContentConfig``, ...) are dumped to plain data first, so google-genai is
needed only by code that passes its types."""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Optional

# Config fields that go beside generationConfig in the body (the SDK's `parent_object`).
_ROOT_FIELDS = {
    "system_instruction": "systemInstruction",
    "safety_settings": "safetySettings",
    "tools": "tools",
    "tool_config": "toolConfig",
    "labels": "labels",
    "cached_content": "cachedContent",
    "service_tier": "serviceTier",
    "continuation_token": "continuationToken",
    "store": "store",
}
# Config fields that change the request, not the body.
_REQUEST_FIELDS = ("http_options", "automatic_function_calling", "should_return_http_response")
# Values passed through unchanged: JSON schemas, function arguments and results, labels.
_OPAQUE = {
    "args", "response", "labels", "response_json_schema", "parameters_json_schema", "default", "example",
    "enum", "structValue", "part_metadata",
}
# Part fields (snake_case and camelCase): a dict with only these keys is a part.
_PART_KEYS = {
    "text", "thought", "thought_signature", "inline_data", "file_data", "function_call", "function_response",
    "executable_code", "code_execution_result", "video_metadata", "media_resolution", "tool_call",
    "tool_response", "part_metadata",
}
_PART_KEYS |= {"".join(w if i == 0 else w.capitalize() for i, w in enumerate(k.split("_"))) for k in _PART_KEYS}


def camel(key: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens`` (camelCase keys stay as they are)."""
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def snake(key: str) -> str:
    """``maxOutputTokens`` -> ``max_output_tokens``."""
    return "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")


def _plain(value: Any) -> Any:
    """The SDK's pydantic objects as plain data (snake_case keys, bytes as base64, enums as
    their values); anything else unchanged."""
    dump = getattr(value, "model_dump", None)
    if dump is not None and type(value).__module__.startswith("google."):
        return dump(exclude_none=True, mode="json")
    return value


# Fields that hold a `types.Schema`: the SDK sends a Schema's own keys in snake_case
# (`max_length`, `any_of`), as its pydantic model dumps them; the API reads both spellings.
_SCHEMAS = {"parameters", "response", "response_schema"}


# Fields the SDK copies into the body as its pydantic model dumps them, keys in snake_case
# (`inlineData: {"mime_type": ...}`, `thinkingConfig: {"thinking_budget": ...}`).
_SNAKE_INSIDE = {
    "inline_data", "file_data", "executable_code", "video_metadata", "tool_call", "tool_response",
    "speech_metadata", "audio_metadata", "thinking_config", "audio_transcription_config",
}


def _snake_keys(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {snake(k): _snake_keys(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_snake_keys(v) for v in value]
    return value


def _schema(value: Any) -> Any:
    """A ``types.Schema`` as the SDK sends it: keys in snake_case, property names as given."""
    value = _plain(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            name = snake(k)
            if name == "properties" and isinstance(v, dict):
                out[name] = {pk: _schema(pv) for pk, pv in v.items()}
            elif name in ("items", "any_of"):
                out[name] = [_schema(x) for x in v] if isinstance(v, list) else _schema(v)
            else:
                out[name] = v
        return out
    return value


def wire(value: Any, key: Optional[str] = None) -> Any:
    """Plain data with every key in camelCase, except inside opaque values (JSON schemas,
    function arguments) and the names under a schema's ``properties``."""
    value = _plain(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if key is not None and key in _OPAQUE:
        return value
    if isinstance(value, dict):
        if key == "properties":
            return {k: wire(v) for k, v in value.items()}
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"keys must be strings, not {type(k).__name__}: {k!r}")
            if v is None:
                continue
            if snake(k) in _SNAKE_INSIDE:
                out[camel(k)] = _snake_keys(v)
            elif snake(k) in _SCHEMAS and key in ("function_declarations", "functionDeclarations", "response_schema"):
                out[camel(k)] = _schema(v)
            else:
                out[camel(k)] = wire(v, k)
        return out
    if isinstance(value, (list, tuple)):
        return [wire(v, key) for v in value]
    return value


def _is_part_dict(value: Dict[str, Any]) -> bool:
    return bool(value) and all(k in _PART_KEYS for k in value)


def _part(value: Any, name: str) -> Dict[str, Any]:
    value = _plain(value)
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict):
        if _is_part_dict(value):
            return wire(value)
        if value and all(k in ("file_uri", "fileUri", "mime_type", "mimeType", "display_name", "displayName")
                         for k in value):
            return {"fileData": wire(value)}
    raise TypeError(f"{name} must be a string, a part dict or a {{'role', 'parts'}} dict, not {value!r:.80}")


def _content(value: Any, name: str) -> Dict[str, Any]:
    """One Content: a {"role", "parts"} dict, a part, a string, or a list of parts."""
    value = _plain(value)
    if isinstance(value, dict) and (not value or set(value) <= {"role", "parts"}):
        parts = value.get("parts")
        if parts is not None and not isinstance(parts, list):
            parts = [parts]
        out: Dict[str, Any] = {}
        if parts is not None:
            out["parts"] = [_part(p, f"{name}['parts']") for p in parts]
        role = value.get("role")
        if role is not None:
            if not isinstance(role, str):
                raise TypeError(f"{name}['role'] must be a string, not {type(role).__name__}")
            out["role"] = role
        return out
    if isinstance(value, list):
        return {"parts": [_part(p, name) for p in value], "role": "user"}
    part = _part(value, name)
    return {"parts": [part], "role": "model" if "functionCall" in part else "user"}


def contents(value: Any, name: str = "contents") -> List[Dict[str, Any]]:
    """The SDK's ``t_contents``: a string, a part, a Content, or a list of them; consecutive
    parts are grouped into one Content (``user``, or ``model`` for function calls)."""
    value = _plain(value)
    if value is None or (isinstance(value, (list, tuple)) and not value):
        raise ValueError(f"{name} are required")
    if not isinstance(value, (list, tuple)):
        return [_content(value, name)]
    result: List[Dict[str, Any]] = []
    pending: List[Dict[str, Any]] = []
    pending_role = "user"

    def flush() -> None:
        if pending:
            result.append({"parts": list(pending), "role": pending_role})
            pending.clear()

    for item in value:
        item = _plain(item)
        if isinstance(item, list):
            flush()
            result.append(_content(item, name))
        elif isinstance(item, str) or (isinstance(item, dict) and (_is_part_dict(item) or (
                item and set(item) <= {"file_uri", "fileUri", "mime_type", "mimeType"}))):
            part = _part(item, name)
            role = "model" if "functionCall" in part else "user"
            if role != pending_role and pending:
                flush()
            pending_role = role
            pending.append(part)
        elif isinstance(item, dict):
            flush()
            result.append(_content(item, name))
        else:
            raise TypeError(f"{name} must be strings, parts or {{'role', 'parts'}} dicts, not {type(item).__name__}")
    flush()
    return result


def config(value: Any) -> tuple[Dict[str, Any], Dict[str, Any]]:
    """The body fields of ``config=`` (``generationConfig`` and those beside it) and the
    request options it carries (``http_options``)."""
    value = _plain(value)
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise TypeError(f"config must be a dict or a types.GenerateContentConfig, not {type(value).__name__}")
    body: Dict[str, Any] = {}
    generation: Dict[str, Any] = {}
    options: Dict[str, Any] = {}
    for key, v in value.items():
        if not isinstance(key, str):
            raise TypeError(f"config keys must be strings, not {type(key).__name__}")
        if v is None:
            continue
        name = snake(key)
        if name in _REQUEST_FIELDS:
            options[name] = _plain(v)
        elif name == "system_instruction":
            body["systemInstruction"] = _content(v, "config['system_instruction']")
        elif name == "cached_content":
            if not isinstance(v, str):
                raise TypeError(f"config['cached_content'] must be a string, not {type(v).__name__}")
            body["cachedContent"] = v if v.startswith("cachedContents/") or "/" in v else f"cachedContents/{v}"
        elif name in ("tools", "safety_settings") and not isinstance(_plain(v), (list, tuple)):
            raise TypeError(f"config[{key!r}] must be a list, not {type(v).__name__}")
        elif name in _ROOT_FIELDS:
            body[_ROOT_FIELDS[name]] = wire(v, name)
        elif name in _SNAKE_INSIDE:
            generation[camel(key)] = _snake_keys(v)
        elif name == "response_schema":
            generation["responseSchema"] = _schema(v)
        else:
            generation[camel(key)] = wire(v, name)
    # As the SDK: a config, even an empty one, gives a generationConfig.
    body["generationConfig"] = generation
    return body, options
