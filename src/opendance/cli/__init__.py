"""The ``opendance`` command: server, worker and operator commands. Thin: it parses, calls a
service, prints."""
