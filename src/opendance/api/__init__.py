"""The HTTP API: FastAPI app factory, routes, envelope, middleware."""
