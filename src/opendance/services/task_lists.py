"""The Seedance door's task list (an extension of the contract): its query parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from opendance import errors
from opendance.domain.task_filter import TaskFilter
from opendance.domain.task_states import PUBLIC_STATUS_STATES

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100


@dataclass(frozen=True)
class TaskListQuery:
    which: TaskFilter
    limit: int
    after: str | None


def parse_task_list_query(params: Mapping[str, str]) -> TaskListQuery:
    """``status`` (IN_PROGRESS, SUCCESS or FAILED), ``limit`` (1 to 100, default 20) and
    ``after`` (the ``last_id`` of the previous page)."""
    status = params.get("status")
    which = TaskFilter()
    if status:
        if status not in PUBLIC_STATUS_STATES:
            raise errors.InvalidRequest("status must be one of " + ", ".join(PUBLIC_STATUS_STATES))
        which = TaskFilter(statuses=frozenset(PUBLIC_STATUS_STATES[status]))
    return TaskListQuery(which, page_limit(params.get("limit")), params.get("after") or None)


def page_limit(given: str | None, *, default: int = DEFAULT_LIMIT, most: int = MAX_LIMIT) -> int:
    """A page size from a query parameter: an integer from 1 to ``most``."""
    if given is None or given == "":
        return default
    # ASCII digits only (full-width digits are digits too), and few: int() refuses thousands
    if not (given.isascii() and given.isdigit() and len(given) <= 9 and 1 <= int(given) <= most):
        raise errors.InvalidRequest(f"limit must be an integer from 1 to {most}")
    return int(given)
