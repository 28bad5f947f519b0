"""The SQL files under ``warehouse/``: numbered migrations, layered views, named queries.

All SQL lives in those files. Python only reads them, orders them and binds parameters; the
one identifier it ever splices into SQL is a view name taken from a file name that matched
``_VIEW_FILE`` (a whitelist by construction).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmatrix.errors import WarehouseError

_MIGRATION_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_VIEW_FILE = re.compile(r"^(\d{2})_([a-z][a-z0-9_]*)\.sql$")
_QUERY_FILE = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")
_MACRO_LINE = re.compile(r"^--\s*table macro:\s*(\([a-z0-9_ :=.,-]*\))\s*$", re.MULTILINE)
_PARAMS_LINE = re.compile(r"^--\s*params:\s*(.*)$", re.MULTILINE)
_PARAM_USE = re.compile(r"\$([a-z_][a-z0-9_]*)")


def sql_root() -> Path:
    """Directory holding migrations/, views/, queries/ (env BENCHMATRIX_SQL_DIR overrides)."""
    override = os.environ.get("BENCHMATRIX_SQL_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "warehouse"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class View:
    """A view, or a table macro when its file says ``-- table macro: (arg := default, ...)``
    (a mart that takes parameters: the named queries call it with theirs)."""

    layer: int  # the NN file prefix: 1x staging, 2x intermediate, 3x marts
    name: str
    sql: str

    @property
    def macro_args(self) -> str | None:
        match = _MACRO_LINE.search(self.sql)
        return match.group(1) if match else None

    def create_statement(self) -> str:
        """DDL for this view or macro (name and arguments are whitelisted by their patterns)."""
        if self.macro_args is None:
            return f"create or replace view {self.name} as\n{self.sql}"
        return f"create or replace macro {self.name}{self.macro_args} as table\n{self.sql}"


@dataclass(frozen=True)
class NamedQuery:
    """A parameterised query from ``warehouse/queries/NAME.sql``.

    The ``-- params: a = null, b = 7`` header line declares every ``$name`` the query uses and
    its default; the first comment lines are the description shown by ``query --list``.
    """

    name: str
    description: str
    sql: str
    defaults: dict[str, Any] = field(default_factory=dict)

    def bind(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``params``; unknown names raise a WarehouseError."""
        params = {k: v for k, v in (params or {}).items()}
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise WarehouseError(
                f"query {self.name!r} has no parameter {', '.join(unknown)} (it takes: {known})"
            )
        return {**self.defaults, **params}


def load_migrations(root: Path | None = None) -> list[Migration]:
    """Every ``migrations/NNN_name.sql`` in version order; versions must be unique."""
    found: dict[int, Migration] = {}
    for path in sorted((root or sql_root()).joinpath("migrations").glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise WarehouseError(f"{path}: migration files are named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise WarehouseError(f"{path}: migration version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def load_views(root: Path | None = None) -> list[View]:
    """Every ``views/NN_name.sql`` in layer order (the NN prefix: 1x staging, 2x int, 3x marts)."""
    views = []
    for path in sorted((root or sql_root()).joinpath("views").glob("*.sql")):
        match = _VIEW_FILE.match(path.name)
        if not match:
            raise WarehouseError(f"{path}: view files are named NN_view_name.sql")
        views.append(View(int(match.group(1)), match.group(2), path.read_text()))
    return views


def materialized_inputs_sha256(views: list[View]) -> str:
    """Digest of the staging and intermediate view SQL the materialized tables derive from."""
    digest = hashlib.sha256()
    for view in views:
        if view.layer < 30:
            digest.update(f"{view.name}\n{view.sql}\n".encode())
    return digest.hexdigest()


def load_queries(root: Path | None = None) -> dict[str, NamedQuery]:
    """Every ``queries/NAME.sql`` by name."""
    queries = {}
    for path in sorted((root or sql_root()).joinpath("queries").glob("*.sql")):
        match = _QUERY_FILE.match(path.name)
        if not match:
            raise WarehouseError(f"{path}: query files are named name.sql (lower case)")
        queries[match.group(1)] = _parse_query(match.group(1), path)
    return queries


def _parse_query(name: str, path: Path) -> NamedQuery:
    text = path.read_text()
    header = _PARAMS_LINE.search(text)
    defaults = _parse_defaults(path, header.group(1)) if header else {}
    used = set(_PARAM_USE.findall(_strip_comments(text)))
    if used != set(defaults):
        raise WarehouseError(
            f"{path}: the '-- params:' line declares {sorted(defaults)} "
            f"but the query uses {sorted(used)}"
        )
    description = " ".join(
        line.removeprefix("--").strip()
        for line in text.splitlines()
        if line.startswith("--") and not _PARAMS_LINE.match(line)
    )
    return NamedQuery(name, description, text, defaults)


def _parse_defaults(path: Path, spec: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, raw = (piece.strip() for piece in item.partition("="))
        if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise WarehouseError(f"{path}: bad parameter declaration {item!r} (want name = value)")
        literal = {"null": "None", "true": "True", "false": "False"}.get(raw, raw)
        try:
            defaults[key] = ast.literal_eval(literal)
        except (ValueError, SyntaxError) as exc:
            raise WarehouseError(f"{path}: default of {key} is not a literal: {raw!r}") from exc
    return defaults


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())
