"""The Ark door's task list query and its delete (the task object is ``ark_objects``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from opendance import errors
from opendance.domain.task_filter import TaskFilter
from opendance.domain.task_states import TaskState
from opendance.domain.task_view import TaskView
from opendance.services import tasks
from opendance.services.ark_errors import ArkParameterError
from opendance.services.ark_objects import DEFAULT_MODEL, EXPIRED
from opendance.services.context import AppContext

DEFAULT_PAGE_SIZE: Final = 10
MAX_PAGE_SIZE: Final = 500
MAX_PAGE_NUM: Final = 1_000_000
"""Far past any real list; keeps the offset a number every database takes."""


# --- list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArkListQuery:
    which: TaskFilter
    page_num: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page_num - 1) * self.page_size


# filter.status -> which tasks: an expired task shows "expired" and only there
_STATUS_FILTERS: Final = {
    **{state.value: TaskFilter(statuses=frozenset({state}), expired=False) for state in TaskState},
    EXPIRED: TaskFilter(expired=True),
}
_NOTHING: Final = TaskFilter(task_ids=())


def parse_list_query(params: Mapping[str, str], task_ids: list[str]) -> ArkListQuery:
    """``page_num`` (from 1), ``page_size`` (1 to 500, default 10), ``filter.status``,
    ``filter.model``, ``filter.task_ids`` (repeated: ``task_ids``), ``filter.service_tier``."""
    which = TaskFilter()
    status = params.get("filter.status")
    if status:
        if status not in _STATUS_FILTERS:
            offered = ", ".join(_STATUS_FILTERS)
            raise ArkParameterError("filter.status", f"filter.status must be one of {offered}")
        which = _STATUS_FILTERS[status]
    model = params.get("filter.model") or None
    ids = tuple(task_id for task_id in task_ids if task_id) or None
    # a task made through the Seedance door has no model of its own: Ark shows it as ours
    which = TaskFilter(which.statuses, ids, model, which.expired, unset_model=DEFAULT_MODEL)
    tier = params.get("filter.service_tier")
    if tier and tier != "default":
        which = _NOTHING  # every task here runs on the default tier
    return ArkListQuery(
        which,
        page_num=_positive(params, "page_num", default=1, most=MAX_PAGE_NUM),
        page_size=_positive(params, "page_size", default=DEFAULT_PAGE_SIZE, most=MAX_PAGE_SIZE),
    )


def _positive(params: Mapping[str, str], name: str, *, default: int, most: int) -> int:
    given = params.get(name)
    if not given:
        return default
    # a length bound first: int() refuses (with an error) digit strings of thousands of digits
    if not (given.isascii() and given.isdigit() and len(given) <= 9 and 1 <= int(given) <= most):
        raise ArkParameterError(name, f"{name} must be an integer from 1 to {most}")
    return int(given)


async def list_page(
    ctx: AppContext, account_id: str, query: ArkListQuery
) -> tuple[int, list[TaskView]]:
    """(how many tasks match, the page of them), newest first."""
    total = await tasks.count_tasks(ctx, account_id, query.which)
    page = await tasks.list_tasks(
        ctx, account_id, query.which, limit=query.page_size, offset=query.offset
    )
    return total, page.tasks


# --- delete ------------------------------------------------------------------------------


async def delete_task(ctx: AppContext, account_id: str, task_id: str) -> None:
    """Ark's delete: a queued task is cancelled (refunded, still readable); a finished one is
    deleted (404 afterwards); a running one is refused (``TaskNotFinished``)."""
    task = await tasks.get(ctx, account_id, task_id)
    if task.status is TaskState.QUEUED:
        try:
            await tasks.cancel(ctx, account_id, task_id)
            return
        except errors.TaskNotCancellable:
            pass  # it ended a moment ago: it is deleted as any finished task
    elif task.status is TaskState.RUNNING:
        raise errors.TaskNotFinished(
            f"task {task_id!r} is running: it can be neither cancelled nor deleted now; "
            "delete it once it has finished"
        )
    await tasks.delete(ctx, account_id, task_id)
