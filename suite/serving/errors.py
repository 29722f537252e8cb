"""The one error type of the server, carrying a TensorFlow Serving status code.

Both front ends turn it into what TF Serving answers with: REST maps the code to an HTTP
status (`http_rest` in TF Serving's `http_server.cc`) and `{"error": message}`, gRPC to
the same-named `grpc.StatusCode` and the message as details.
"""

from __future__ import annotations

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
}


class ServingError(Exception):
    """A request the server answers with an error, and why.

    Args:
        code: a TensorFlow Serving status code name, one of `HTTP_STATUS`
            (`PAYLOAD_TOO_LARGE` is REST's 413; gRPC reports it as `RESOURCE_EXHAUSTED`).
        message: what was wrong, naming the offending value and what was expected.
    """

    def __init__(self, code: str, message: str):
        if code not in HTTP_STATUS:
            raise ValueError(f"code: got {code!r}, expected one of {', '.join(HTTP_STATUS)}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers this error with."""
        return HTTP_STATUS[self.code]

    @property
    def grpc_code(self):
        """The `grpc.StatusCode` TF Serving's gRPC API answers this error with."""
        import grpc

        name = "RESOURCE_EXHAUSTED" if self.code == "PAYLOAD_TOO_LARGE" else self.code
        return getattr(grpc.StatusCode, name)


def invalid(message: str) -> ServingError:
    """An INVALID_ARGUMENT error (HTTP 400)."""
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    """A NOT_FOUND error (HTTP 404)."""
    return ServingError("NOT_FOUND", message)
