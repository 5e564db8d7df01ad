"""What sserpent does not stream goes to the official SDK: ``client.models``,
``client.embeddings``, ``client.files``, ``client.beta``, ``client.chat.completions.parse`` ...

Each drop-in client keeps the arguments it was made with (api key, base URL, headers,
organization/project, timeout, retries); the first attribute sserpent does not implement
builds the SDK's own client from them, once, and reads the attribute there. Without the SDK
installed, the ``AttributeError`` names the package to install.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

__all__ = ["sdk_client", "delegated_attribute"]


def _module(package: str) -> Any:
    return importlib.import_module(package)


def sdk_client(owner: Any) -> Any:
    """The SDK client behind ``owner`` (built on first use)."""
    client = owner.__dict__.get("_sdk_client")
    if client is None:
        package, cls_name = owner._sdk
        module = _module(package)
        kwargs = {k: v for k, v in owner._sdk_kwargs.items() if v is not None}
        verify = kwargs.pop("verify", None)
        if verify is not None:
            # The SDK's own transport with the same TLS verification.
            http = "DefaultAsyncHttpxClient" if owner._is_async else "DefaultHttpxClient"
            kwargs["http_client"] = getattr(module, http)(verify=verify)
        client = getattr(module, cls_name)(**kwargs)
        owner.__dict__["_sdk_client"] = client
    return client


def delegated_attribute(owner: Any, name: str, path: Optional[str] = None) -> Any:
    """``owner.<path>.<name>`` read on the SDK client, or the ``AttributeError`` saying why
    there is none."""
    cls = type(owner).__name__
    where = f"{path}.{name}" if path else name
    if name.startswith("__") or name in ("_sdk_kwargs", "_sdk_client", "_sdk"):
        raise AttributeError(f"'{cls}' object has no attribute '{name}'")
    package = owner._sdk[0]
    try:
        client = sdk_client(owner)
    except ImportError:
        raise AttributeError(
            f"'{cls}' object has no attribute '{where}': sserpent implements streaming (and create); "
            f"'{where}' is delegated to the official SDK, which is not installed: pip install {package}"
        ) from None
    target = client
    for part in path.split(".") if path else ():
        target = getattr(target, part)
    return getattr(target, name)
