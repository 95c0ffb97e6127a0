"""The one error type for problems a user can fix."""

from __future__ import annotations


class TokennotesError(Exception):
    """A problem the user can fix; the message says what happened and what to do next."""


class GateFailed(Exception):
    """A budget was exceeded: the command exits 1 on purpose (the CI gate)."""
