"""Opendance: a self-hostable video generation API server speaking the Seedance 2.0 API."""

__version__ = "0.1.0"
