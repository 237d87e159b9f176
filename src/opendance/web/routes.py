"""The routes of the dashboard, the playground and their static files."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from opendance.web import account_pages, admin_pages, auth_pages
from opendance.web.common import current_session, see_other
from opendance.web.playground import playground
from opendance.web.render import STATIC_DIR


async def dashboard_home(request: Request) -> Response:
    signed_in = await current_session(request) is not None
    return see_other(auth_pages.HOME if signed_in else "/dashboard/signin")


def web_routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", dashboard_home, methods=["GET"]),
        Route("/dashboard/signin", auth_pages.signin_form, methods=["GET"]),
        Route("/dashboard/signin", auth_pages.signin_submit, methods=["POST"]),
        Route("/dashboard/signout", auth_pages.signout, methods=["POST"]),
        Route("/dashboard/invite/{token}", auth_pages.invite_form, methods=["GET"]),
        Route("/dashboard/invite/{token}", auth_pages.invite_submit, methods=["POST"]),
        Route("/dashboard/keys", account_pages.keys, methods=["GET"]),
        Route("/dashboard/keys", account_pages.create_key, methods=["POST"]),
        Route("/dashboard/keys/{key_id}/revoke", account_pages.revoke_key, methods=["POST"]),
        Route("/dashboard/credits", account_pages.credits, methods=["GET"]),
        Route("/dashboard/tasks", account_pages.tasks, methods=["GET"]),
        Route("/dashboard/tasks/{task_id}", account_pages.task, methods=["GET"]),
        Route("/dashboard/tasks/{task_id}/cancel", account_pages.cancel_task, methods=["POST"]),
        Route("/dashboard/webhooks", account_pages.webhooks, methods=["GET"]),
        Route("/dashboard/webhooks/rotate", account_pages.rotate_webhook_secret, methods=["POST"]),
        Route(
            "/dashboard/webhooks/{delivery_id}/redeliver",
            account_pages.redeliver,
            methods=["POST"],
        ),
        Route("/dashboard/admin", admin_pages.overview, methods=["GET"]),
        Route("/dashboard/admin/grant", admin_pages.grant, methods=["POST"]),
        Route("/dashboard/admin/users", admin_pages.create_user, methods=["POST"]),
        Route("/playground", playground, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
