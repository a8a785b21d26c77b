"""schemathesis hooks for the contract fuzzing of test_openapi_fuzz.py (loaded through
SCHEMATHESIS_HOOKS): tar uploads are sent as the raw bytes schemathesis generates for a
binary body, like application/octet-stream."""

import schemathesis

schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
