"""``GET /metrics``: the fleet's figures read from the database at scrape time, and this API
process's own HTTP figures, in the Prometheus exposition format."""
