"""The one door for named optimizers and tasks: the entry-point groups `adamlab.optimizers` and
`adamlab.tasks`. adamlab declares its built-ins there (pyproject.toml), and an installed package
registers its plug-ins the same way:

    [project.entry-points."adamlab.optimizers"]
    lion = "my_package.optimizers:Lion"

An entry of adamlab's own distribution is "built-in"; any other is "installed: <dist> <version>".
A plug-in whose name clashes with a built-in (or with another installed plug-in) is refused in
one line naming both. Reading the groups imports nothing; an entry is loaded when it is used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, EntryPoints, entry_points

from adamlab.errors import AdamlabError

OPTIMIZER_GROUP = "adamlab.optimizers"
TASK_GROUP = "adamlab.tasks"
OWN_DISTRIBUTION = "adamlab"
BUILT_IN = "built-in"


@dataclass(frozen=True)
class Registered:
    name: str
    entry_point: EntryPoint
    #: "built-in" or "installed: <distribution> <version>"
    origin: str

    @property
    def built_in(self) -> bool:
        return self.origin == BUILT_IN

    def load(self):
        """The object the entry point names; a failing import is one line naming the plug-in."""
        try:
            return self.entry_point.load()
        except Exception as exc:
            lines = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
            raise AdamlabError(
                f"plug-in {self.name!r} ({self.entry_point.value}, {self.origin}) cannot be "
                f"loaded: {reason}"
            ) from None


def _origin(entry: EntryPoint, known: dict[int, str]) -> str:
    """`known` keeps each distribution's answer: reading a distribution's metadata parses its
    whole METADATA file, and one distribution declares many entries."""
    dist = getattr(entry, "dist", None)
    if dist is None:
        return "installed: unknown distribution"
    if id(dist) not in known:
        known[id(dist)] = _origin_of(dist)
    return known[id(dist)]


def _origin_of(dist) -> str:
    name = dist.metadata["Name"] or "unknown"
    if name.replace("_", "-").lower() == OWN_DISTRIBUTION:
        return BUILT_IN
    return f"installed: {name} {dist.version}"


@functools.cache
def _every_entry_point() -> EntryPoints:
    """Every installed distribution's entry points, found once for both groups (finding them
    reads each distribution's entry_points.txt)."""
    return entry_points()


@functools.cache
def registered(group: str) -> dict[str, Registered]:
    """Every name of `group`, built-ins first; raises AdamlabError on a clash."""
    kind = group.rsplit(".", 1)[-1].rstrip("s")
    found: dict[str, Registered] = {}
    known: dict[int, str] = {}
    entries = sorted(_every_entry_point().select(group=group),
                     key=lambda e: (_origin(e, known) != BUILT_IN, e.name))
    for entry in entries:
        origin = _origin(entry, known)
        if entry.name in found:
            if found[entry.name].entry_point.value == entry.value and found[entry.name].origin == origin:
                continue  # the same distribution seen twice on sys.path
            first = found[entry.name]
            clash = "the built-in" if first.built_in else f"the {kind} of {first.origin.removeprefix('installed: ')}"
            raise AdamlabError(
                f"{kind} plug-in {entry.name!r} ({entry.value}, {origin}) clashes with {clash} "
                f"{kind} {entry.name!r}; rename it in its package's [project.entry-points.\"{group}\"]"
            )
        found[entry.name] = Registered(entry.name, entry, origin)
    if not any(r.built_in for r in found.values()):
        raise AdamlabError(
            f"adamlab's own {group} entry points are missing: its installed metadata predates "
            f"them; reinstall it (pip install -e . in the checkout, or make venv)"
        )
    return found
