"""Names for the objects the tests create, unique so that no two tests ever collide."""

import uuid


def unique(prefix):
    """`prefix` and eight random hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"
