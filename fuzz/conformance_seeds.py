#!/usr/bin/env python3
"""Writes the conformance set (schemas/conformance) as seeds of the envelope harness:
one byte of key length (0xFF: no key), the key, then the record's value."""
import json
import pathlib
import sys

conformance, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for case in json.loads((conformance / "cases.json").read_text())["cases"]:
    key = case["key"]
    if key is not None and len(key.encode()) > 254:
        continue  # does not fit the length byte
    head = b"\xff" if key is None else bytes([len(key.encode())]) + key.encode()
    value = (conformance / case["file"]).read_bytes()
    (out / case["file"].replace("/", "_")).write_bytes(head + value)
