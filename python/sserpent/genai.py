"""The Gemini API and Vertex AI, shaped like the google-genai SDK: change one import.

    from sserpent import genai            # was: from google import genai

    client = genai.Client()               # GOOGLE_API_KEY or GEMINI_API_KEY
    for chunk in client.models.generate_content_stream(model="gemini-2.5-flash",
                                                       contents="Why is the sky blue?"):
        print(chunk.text, end="")

``genai.types`` is google-genai's own ``types`` module (when google-genai is installed), so
``types.GenerateContentConfig(...)`` works as ``config=``; sserpent does not need it.
"""

from __future__ import annotations

from typing import Any

from ._providers.gemini import Client

__all__ = ["Client"]  # and `types`, loaded on first use


def __getattr__(name: str) -> Any:
    if name == "types":
        try:
            from google.genai import types
        except ImportError:
            raise AttributeError(
                "sserpent.genai.types is google-genai's types module: pip install google-genai "
                "(or pass config= and contents= as plain dicts)"
            ) from None
        return types
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
