"""The Ark door's own errors: a bad parameter, named as Ark names it.

Ark's clients read ``param`` to learn which parameter to fix, and ``code`` tells a missing one
(``MissingParameter``) from a wrong one (``InvalidParameter``). Both are 400s of the one error
tree (an ``InvalidRequest``), so every other door and the logs see them as usual; the Ark
error shape (``api/ark_errors.py``) reads the two extra attributes.
"""

from __future__ import annotations

from opendance import errors


class ArkParameterError(errors.InvalidRequest):
    """A parameter of an Ark request is not acceptable."""

    ark_code = "InvalidParameter"

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class ArkMissingParameter(ArkParameterError):
    """A required parameter is absent (or null, which Ark's SDK sends for "not given")."""

    ark_code = "MissingParameter"
