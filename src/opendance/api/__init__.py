"""The HTTP API: the ASGI app factory, routes, envelope, middleware."""
