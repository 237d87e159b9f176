"""Persistence: SQLAlchemy Core tables, repositories and the task queue (SQLite or PostgreSQL)."""
