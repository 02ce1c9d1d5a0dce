"""One problem found in a sweep file: where (a key path such as `optimizers[0].lr`) and what.
Its own module because both the schema and the optimizer preflight report them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
