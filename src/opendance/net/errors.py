"""Errors of the outbound-fetch layer.

    OpendanceError
    ├── UrlRejected           a URL is refused before any connection is made (syntax, scheme,
    │   │                     credentials)
    │   └── AddressRejected   ... because of where it leads: a blocked address, or no address
    ├── FetchFailed           a permitted URL could not be fetched (DNS, connect, timeout, status,
    │   │                     redirects)
    │   └── ResponseTooLarge  the body is over the caller's size cap
    └── NameResolutionError   a host name did not resolve; callers turn it into one of the above

None of these is an ``ApiError``: the same rejected URL means ``INVALID_CALLBACK_URL`` for one
field and ``INVALID_IMAGE_URL`` for another, and a fetch failure at run time fails a task instead
of an HTTP request. The caller picks the translation; the message is already fit for clients.
"""

from __future__ import annotations

from opendance.errors import OpendanceError


class UrlRejected(OpendanceError):
    """A URL was refused without connecting anywhere.

    ``subject`` names what was checked (``"callback_url"``, ``"redirect to http://..."``) and
    ``reason`` says why (``"resolves to a private address (10.0.0.1)"``); the message joins them.
    """

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"{subject} {reason}")


class AddressRejected(UrlRejected):
    """The URL leads to an address the policy blocks, or its host does not resolve.

    The message has the details for the server's log. Clients get only ``public_message``:
    telling them which internal address a name resolves to, or that it does not resolve,
    would turn the server into a map of the internal network.
    """

    @property
    def public_message(self) -> str:
        return f"{self.subject} is not publicly reachable"


class FetchFailed(OpendanceError):
    """A permitted URL could not be fetched; the message is shown as the task's error_message."""


class ResponseTooLarge(FetchFailed):
    """The response body is larger than the caller allowed."""

    def __init__(self, limit: int, message: str) -> None:
        self.limit = limit
        super().__init__(message)


class NameResolutionError(OpendanceError):
    """A host name did not resolve to any address (NXDOMAIN, resolver failure or timeout)."""

    def __init__(self, host: str, detail: str) -> None:
        self.host = host
        self.detail = detail
        super().__init__(f"host {host} could not be resolved ({detail})")
