"""The exception hierarchy: every error sserpent raises derives from SserpentError;
StreamError is an APIError; IncompleteStreamError an APIConnectionError. Plus the
attributes and picklability of the errors the parse APIs raise."""

from __future__ import annotations

import pickle

import pytest
import sserpent
from sserpent import _errors

ALL_ERRORS = [
    "SserpentError",
    "SSEError",
    "ChunkDecodeError",
    "APIError",
    "StreamError",
    "APIConnectionError",
    "APITimeoutError",
    "IncompleteStreamError",
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

PARENTS = {
    "SserpentError": Exception,
    "SSEError": sserpent.SserpentError,
    "ChunkDecodeError": sserpent.SserpentError,
    "APIError": sserpent.SserpentError,
    "StreamError": sserpent.APIError,
    "APIConnectionError": sserpent.APIError,
    "APITimeoutError": sserpent.APIConnectionError,
    "IncompleteStreamError": sserpent.APIConnectionError,
    "APIStatusError": sserpent.APIError,
    "BadRequestError": sserpent.APIStatusError,
    "AuthenticationError": sserpent.APIStatusError,
    "PermissionDeniedError": sserpent.APIStatusError,
    "NotFoundError": sserpent.APIStatusError,
    "ConflictError": sserpent.APIStatusError,
    "UnprocessableEntityError": sserpent.APIStatusError,
    "RateLimitError": sserpent.APIStatusError,
    "InternalServerError": sserpent.APIStatusError,
}


@pytest.mark.parametrize("name", ALL_ERRORS)
def test_every_error_is_exported_and_derives_from_sserpent_error(name):
    cls = getattr(sserpent, name)
    assert cls is getattr(_errors, name)
    assert name in sserpent.__all__
    assert issubclass(cls, sserpent.SserpentError)
    assert issubclass(cls, Exception)
    assert issubclass(cls, PARENTS[name])


def test_every_exception_class_of_the_package_derives_from_sserpent_error():
    for module in (sserpent, _errors):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException):
                assert issubclass(value, sserpent.SserpentError), name
    assert set(ALL_ERRORS) <= {n for n in vars(_errors)}


def test_key_relationships():
    assert issubclass(sserpent.StreamError, sserpent.APIError)
    assert issubclass(sserpent.IncompleteStreamError, sserpent.APIConnectionError)
    assert issubclass(sserpent.IncompleteStreamError, sserpent.APIError)
    assert not issubclass(sserpent.StreamError, sserpent.APIConnectionError)
    assert not issubclass(sserpent.IncompleteStreamError, sserpent.StreamError)
    # Input-level errors are also ValueErrors, as json and codecs errors are.
    assert issubclass(sserpent.SSEError, ValueError)
    assert issubclass(sserpent.ChunkDecodeError, ValueError)
    assert not issubclass(sserpent.APIError, ValueError)


def test_status_error_classes():
    cls = _errors.status_error_class
    assert cls(400) is sserpent.BadRequestError
    assert cls(401) is sserpent.AuthenticationError
    assert cls(403) is sserpent.PermissionDeniedError
    assert cls(404) is sserpent.NotFoundError
    assert cls(409) is sserpent.ConflictError
    assert cls(422) is sserpent.UnprocessableEntityError
    assert cls(429) is sserpent.RateLimitError
    assert cls(500) is sserpent.InternalServerError
    assert cls(503) is sserpent.InternalServerError
    assert cls(418) is sserpent.APIStatusError


# --- the errors raised by the parse APIs -----------------------------------------------------


def raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError("nothing raised")


def sse_error():
    return raised(lambda: sserpent.Decoder(10).feed(b"data: " + b"x" * 20 + b"\n\n"))


def chunk_decode_error():
    return raised(lambda: list(sserpent.iter_chunks([b"data: {oops}\n\n"])))


def stream_error():
    body = b'data: {"error":{"message":"m","type":"t","code":"c","param":"p"}}\n\n'
    return raised(lambda: list(sserpent.iter_chunks([body])))


def incomplete_error():
    return raised(lambda: list(sserpent.iter_chunks([b'data: {"a":1}\n\ndata: {'])))


def event_json_error():
    return raised(lambda: sserpent.Event("nope").json())


RAISERS = {
    "SSEError": sse_error,
    "ChunkDecodeError": chunk_decode_error,
    "StreamError": stream_error,
    "IncompleteStreamError": incomplete_error,
    "ChunkDecodeError(Event.json)": event_json_error,
}


@pytest.mark.parametrize("label", list(RAISERS))
def test_raised_errors_are_sserpent_errors(label):
    err = RAISERS[label]()
    assert type(err) is getattr(sserpent, label.split("(")[0])
    assert isinstance(err, sserpent.SserpentError)
    assert str(err)  # a message


def test_sse_error_attributes():
    err = sse_error()
    assert err.limit == 10
    assert "10" in str(err)


def test_chunk_decode_error_attributes():
    err = chunk_decode_error()
    assert err.data == "{oops}"
    assert err.position == 1
    assert err.event == sserpent.Event("{oops}")
    assert "{oops}" in str(err)


def test_stream_error_attributes():
    err = stream_error()
    assert (err.message, err.type, err.code, err.param) == ("m", "t", "c", "p")
    assert err.args == ("m",)
    assert err.body == {"error": {"message": "m", "type": "t", "code": "c", "param": "p"}}
    assert isinstance(err.event, sserpent.Event)


def test_incomplete_error_attributes():
    err = incomplete_error()
    assert err.message == str(err)
    assert "1" in str(err)  # says how many complete chunks arrived


def test_catching_by_base_class():
    with pytest.raises(sserpent.SserpentError):
        list(sserpent.iter_chunks([b'event: error\ndata: {"error":{"message":"x"}}\n\n']))
    with pytest.raises(sserpent.APIError):
        list(sserpent.iter_chunks([b'event: error\ndata: {"error":{"message":"x"}}\n\n']))
    with pytest.raises(sserpent.APIConnectionError):
        list(sserpent.iter_chunks([b'data: {"object":"chat.completion.chunk","choices":[]}\n\n']))


def test_constructors():
    e = sserpent.StreamError("boom")
    assert (e.message, e.type, e.code, e.param, e.event, e.body) == ("boom", None, None, None, None, None)
    e = sserpent.ChunkDecodeError("bad")
    assert (e.data, e.position, e.event) == ("", 0, None)
    assert sserpent.SSEError("x").limit is None
    e = sserpent.APIStatusError("x", status_code=404, body={"a": 1}, request_id="r")
    assert (e.status_code, e.body, e.request_id, e.headers) == (404, {"a": 1}, "r", {})


# --- pickling (the errors module says its classes "pickle") ----------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: sserpent.SSEError("x", limit=3),
        lambda: sserpent.ChunkDecodeError("m", data="d", position=1),
        lambda: sserpent.StreamError("m", type="t", code="c", param="p", body={"a": 1}),
        lambda: sserpent.IncompleteStreamError("cut"),
        lambda: sserpent.APITimeoutError("slow"),
    ],
)
def test_plain_errors_pickle(make):
    err = make()
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert back.args == err.args
    assert vars(back) == vars(err)


def test_status_errors_pickle():
    err = sserpent.RateLimitError("slow down", status_code=429, body={"e": 1}, request_id="r")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is sserpent.RateLimitError
    assert (back.status_code, back.body, back.request_id) == (429, {"e": 1}, "r")


@pytest.mark.parametrize("label", list(RAISERS))
def test_raised_errors_pickle(label):
    err = RAISERS[label]()
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    if hasattr(err, "event") and err.event is not None:
        assert back.event == err.event
