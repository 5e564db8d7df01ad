"""The exceptions sserpent raises. Every one derives from :class:`SserpentError`.

The Rust core raises these classes; they live in Python so that they pickle, carry
docstrings and typed attributes, and can be caught without importing the extension.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = [
    "SserpentError",
    "SSEError",
    "ChunkDecodeError",
    "APIError",
    "StreamError",
    "APIConnectionError",
    "APITimeoutError",
    "IncompleteStreamError",
    "ContentDecodingError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
]


class SserpentError(Exception):
    """Base class of every error sserpent raises."""


class SSEError(SserpentError, ValueError):
    """The event stream broke the decoder's limits (an event or line over ``max_event_size``)."""

    def __init__(self, message: str, *, limit: Optional[int] = None) -> None:
        super().__init__(message)
        self.limit = limit


class ChunkDecodeError(SserpentError, ValueError):
    """A data event was not valid JSON.

    ``data`` holds the event's data (the whole of it), ``position`` the byte offset where
    parsing failed, ``event`` the raw :class:`sserpent.Event` when one is at hand.
    """

    def __init__(self, message: str, *, data: str = "", position: int = 0, event: Any = None) -> None:
        super().__init__(message)
        self.data = data
        self.position = position
        self.event = event


class APIError(SserpentError):
    """An error reported by, or while talking to, an API."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamError(APIError):
    """The provider sent an error in the middle of a stream.

    Raised after every chunk before the error event was delivered. ``message``, ``type``,
    ``code`` and ``param`` come from the provider's error object; ``event`` is the raw
    :class:`sserpent.Event`; ``body`` is the parsed error event as plain data.
    """

    def __init__(
        self,
        message: str,
        *,
        type: Optional[str] = None,
        code: Any = None,
        param: Any = None,
        event: Any = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.param = param
        self.event = event
        self.body = body


class APIConnectionError(APIError):
    """The connection failed or broke."""


class APITimeoutError(APIConnectionError):
    """A connect, read-idle or total timeout expired."""


class IncompleteStreamError(APIConnectionError):
    """The stream ended before its terminator (``[DONE]`` or the provider's end event).

    Raised after every complete chunk that arrived was delivered.
    """


class ContentDecodingError(IncompleteStreamError):
    """The response body could not be decoded per its ``Content-Encoding``: a gzip body that is
    corrupt, or that stops short of its end.

    Raised after every chunk decoded before the fault was delivered.
    """


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``status_code``; ``body``, the parsed JSON body (or its text); ``request_id`` from
    ``x-request-id``, ``apim-request-id`` or ``opc-request-id``; ``headers``; ``code``, the
    error object's kind: Google's ``status`` (``RESOURCE_EXHAUSTED``) or its ``code``
    (OpenAI's ``rate_limit_exceeded``), ``None`` without one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            status = error.get("status")
            self.code: Any = status if isinstance(status, str) else error.get("code")
        else:
            self.code = None
        self.request_id = request_id
        self.headers = headers if headers is not None else {}


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429."""


class InternalServerError(APIStatusError):
    """HTTP 500 and above."""


_STATUS_ERRORS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The :class:`APIStatusError` subclass for ``status_code``."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    obj = cls.__new__(cls, *args)
    BaseException.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


def _reduce(self: BaseException) -> tuple[Any, ...]:
    # The default reduce calls cls(*args), which keyword-only fields break.
    return (_restore, (type(self), self.args, dict(self.__dict__)))


SserpentError.__reduce__ = _reduce  # type: ignore[method-assign,assignment]
