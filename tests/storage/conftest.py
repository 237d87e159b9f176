"""The object store suites: a moto S3 server on loopback for every test that asks for it."""

from tests.support.s3 import s3_bucket, s3_server  # noqa: F401 - fixtures of this directory
