"""Delete the objects no task refers to: uploads a worker made before it was killed (or lost its
lease) and never committed, the files of a refused completion whose deletion failed, input
images that outlived their task.

Every key the service writes names its task (``videos/TASK-N.mp4``, ``posters/TASK-N.jpg``,
``sprites/TASK-N.jpg``, ``last_frames/TASK-N.png``, ``inputs/TASK``), so each page of the
listing costs one primary-key lookup of its tasks. A worker's file (video, poster, sprite
sheet, last frame) is kept while its task points at it or while the lease that made it (``N``)
still runs the task; an input image while its task is queued or running. Objects younger
than ``min_age`` are never judged: a sweep must not race a submit between its upload and its
insert. Keys of any other shape are not the service's and are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from opendance.db import tasks as task_rows
from opendance.services.context import AppContext
from opendance.storage.base import StoredObject

# The folders of a worker's files and the extension of each (``ResultFiles.made_by``).
RESULT_FOLDERS: Final = {"videos": "mp4", "posters": "jpg", "sprites": "jpg", "last_frames": "png"}
SWEPT_PREFIXES: Final = (*(f"{folder}/" for folder in RESULT_FOLDERS), "inputs/")
DEFAULT_MIN_AGE: Final = timedelta(hours=1)
# The keys the worker and submit write, each naming its task (ids are task_ + 22 characters of
# URL-safe base64) and, for a worker's files, the lease that made them.
_TASK_ID = r"task_[A-Za-z0-9_-]{22}"
_RESULT = "|".join(
    rf"{folder}/(?P<{folder}>{_TASK_ID})-(?P<{folder}_lease>\d+)\.{extension}"
    for folder, extension in RESULT_FOLDERS.items()
)
_KEY = re.compile(rf"^(?:{_RESULT}|inputs/(?P<input>{_TASK_ID}))$")


@dataclass
class SweepReport:
    examined: int = 0
    kept: int = 0
    too_young: int = 0
    not_ours: int = 0
    deleted: list[str] = field(default_factory=list)
    deleted_bytes: int = 0
    dry_run: bool = False
    expired_tasks: int = 0
    """Tasks whose files the retention deleted first (``OPENDANCE_RETENTION_DAYS``)."""


async def sweep_unreferenced(
    ctx: AppContext,
    *,
    min_age: timedelta = DEFAULT_MIN_AGE,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepReport:
    """Delete (or, with ``dry_run``, only list) every unreferenced object older than
    ``min_age``."""
    report = SweepReport(dry_run=dry_run)
    cutoff = (now or datetime.now(UTC)) - min_age
    for prefix in SWEPT_PREFIXES:
        async for page in ctx.store.list_objects(prefix):
            report.examined += len(page)
            old = [found for found in page if found.modified_at <= cutoff]
            report.too_young += len(page) - len(old)
            for found in await _unreferenced(ctx, old, report):
                if not dry_run:
                    await ctx.store.delete(found.key)
                report.deleted.append(found.key)
                report.deleted_bytes += found.size
    return report


async def _unreferenced(
    ctx: AppContext, objects: list[StoredObject], report: SweepReport
) -> list[StoredObject]:
    owners: dict[str, tuple[str, int | None]] = {}  # key -> (task id, lease token)
    for found in objects:
        match = _KEY.match(found.key)
        if match is None:
            report.not_ours += 1
        elif match["input"]:
            owners[found.key] = (match["input"], None)
        else:
            folder = found.key.split("/", 1)[0]
            owners[found.key] = (match[folder], int(match[f"{folder}_lease"]))
    if not owners:
        return []
    async with ctx.db.read() as conn:
        rows = await task_rows.stored_objects(conn, {task_id for task_id, _ in owners.values()})
    orphans = []
    for found in objects:
        if found.key not in owners:
            continue
        task_id, lease = owners[found.key]
        row = rows.get(task_id)
        live = row is not None and row.live
        referenced = row is not None and (
            found.key in row.result_keys
            or (found.key == row.input_image_key and live)
            # the upload of the lease that runs the task now, about to be committed (however
            # long its worker has been stalled: its completion would still be accepted)
            or (live and lease == row.lease_token)
        )
        if referenced:
            report.kept += 1
        else:
            orphans.append(found)
    return orphans
