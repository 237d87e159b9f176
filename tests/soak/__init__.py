"""Soak and chaos tests of a whole deployment on PostgreSQL."""
