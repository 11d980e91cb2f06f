"""Hooks of `cargo xtask schemathesis`: how the bodies schemathesis cannot encode by itself go
on the wire. A dataset upload is a text file; its JSON Lines media types carry text as-is."""

import schemathesis

for media_type in (
    "application/jsonl",
    "application/x-ndjson",
    "application/x-jsonlines",
    "application/json-lines",
):
    schemathesis.serializer.alias(media_type, "text/plain")
