"""The docs name what the code defines, and nothing else.

What the code defines is read from the code: the routes from the synthesized template, the
settings from what `Settings.from_context` reads, the error codes from `errors.py` (and the
codes the worker writes into a record), the key layout from `contract.py` and `names.py`.
Every route, setting, code and key prefix must be documented where a reader looks for it
(`docs/API.md`, the README's settings table), and a doc that names one the code does not
have fails. `docs/bench-results.md` is left out: `make bench` writes it.

API Gateway's own answers carry no code (`{"message": ...}`), so they are not in these lists.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template
from image_service import contract, errors, names

from tests.conftest import ROOT
from tests.infra.conftest import STAGES, cdk_json_context, synthesized_stack

README = ROOT / "README.md"
API_MD = ROOT / "docs" / "API.md"
DOCS = (README, *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "bench-results.md"))

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# `POST /upload`, `GET /images?limit=`, `GET/DELETE /images/{id}`, `GET /download/01M8F...jpg`.
ROUTE_MENTION = re.compile(rf"\b({'|'.join(METHODS)}) (/[^\s`'\"),;|\[?]*)")
# `## `GET /images/{id}``, `## `GET /images[?limit=...]``: a route's own section.
ROUTE_HEADING = re.compile(rf"^## `({'|'.join(METHODS)}) (/[^\s`\[?]*)")
# An error code: a capitalised identifier (`Forbidden`, `NotFound`, `InvalidImage`).
CODE = re.compile(r"[A-Z][a-z][A-Za-z0-9]*")
# An error status and a code side by side: `404 ThumbnailPending`, 422 InvalidImage; not a
# reason phrase (`403 Missing Authentication Token`, 503 Slow Down) or a unit (400 GB).
STATUS_AND_CODE = re.compile(rf"\b([45]\d\d) `?({CODE.pattern})\b(?! [A-Z])")
BACKTICKED = re.compile(r"`([^`\n]+)`")
# Something written like a relative path or an object key: `originals/`, `web/js/`.
PATH_LIKE = re.compile(r"[a-z_][\w.-]*/\S*")
# The top-level types of media types (`image/webp`, `multipart/form-data`), which also have a /.
MEDIA_TYPES = ("application", "audio", "font", "image", "message", "model", "multipart", "text")


@dataclass(frozen=True)
class Line:
    doc: Path
    number: int
    text: str

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.number}"


def lines(doc: Path) -> Iterator[Line]:
    for number, text in enumerate(doc.read_text().splitlines(), start=1):
        yield Line(doc, number, text)


def table_rows(doc: Path) -> Iterator[tuple[Line, list[str], list[str]]]:
    """Every body row of every Markdown table in `doc`, with its table's header cells."""
    header: list[str] | None = None
    for line in lines(doc):
        if not line.text.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.text.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
        elif not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            yield line, header, cells


def section(doc: Path, heading: str) -> list[Line]:
    """The lines under the `## heading` of `doc`, up to the next `## `."""
    found: list[Line] = []
    inside = False
    for line in lines(doc):
        if line.text.startswith("## "):
            inside = line.text == f"## {heading}"
        elif inside:
            found.append(line)
    assert found, f"{doc.relative_to(ROOT)} has no section '## {heading}'"
    return found


# --- routes --------------------------------------------------------------------------------


def template_routes(template: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every method of the stage's REST API, paths as API Gateway writes
    them (`/images/{id}`)."""
    resources = template["Resources"]

    def path(resource_id: dict[str, Any]) -> str:
        if "Fn::GetAtt" in resource_id:  # the API's root resource
            return ""
        props = resources[resource_id["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    return {
        (resource["Properties"]["HttpMethod"], path(resource["Properties"]["ResourceId"]) or "/")
        for resource in resources.values()
        if resource["Type"] == "AWS::ApiGateway::Method"
    }


@functools.cache
def routes() -> frozenset[tuple[str, str]]:
    """Every stage's routes (CORS preflights only where the stage sets corsOrigins)."""
    found: set[tuple[str, str]] = set()
    for stage in STAGES:
        found |= template_routes(Template.from_stack(synthesized_stack(stage)).to_json())
    return frozenset(found)


def route_pattern(path: str) -> re.Pattern[str]:
    """`/images/{id}` matches `/images/{id}`, `/images/<id>` and `/images/01JDX...`."""
    parts = [r"[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/")]
    return re.compile("/".join(parts))


def known_route(method: str, path: str) -> bool:
    return any(
        method == known_method and route_pattern(known_path).fullmatch(path)
        for known_method, known_path in routes()
    )


def test_every_route_has_its_section_in_api_md() -> None:
    documented = {
        (match[1], match[2]) for line in lines(API_MD) if (match := ROUTE_HEADING.match(line.text))
    }
    missing = [
        f"{method} {path}"
        for method, path in sorted(routes())
        if method != "OPTIONS" and (method, path) not in documented
    ]
    assert not missing, (
        f"docs/API.md has no section for {', '.join(missing)}: the template serves them. "
        "Add a '## `METHOD /path`' section with its statuses and codes"
    )


def test_docs_name_only_routes_the_api_has() -> None:
    route_names = [f"{method} {path}" for method, path in routes() if method != "OPTIONS"]
    unknown = [
        f"{line} names `{method} {path}`"
        for doc in DOCS
        for line in lines(doc)
        for method, path in ROUTE_MENTION.findall(line.text)
        if not known_route(method, path)
    ]
    assert not unknown, (
        "routes the API does not have: "
        + "; ".join(unknown)
        + f". Routes in the template: {', '.join(sorted(route_names))}."
        " Correct the doc, or add the route to stacks/api.py"
    )


# --- settings ------------------------------------------------------------------------------


def settings_read() -> set[str]:
    """The keys of a stage's settings that `stacks/settings.py` reads: `raw.get("key")` and
    `raw["key"]`, where `raw` is the stage's dictionary from cdk.json."""
    source = ROOT / "stacks" / "settings.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "raw"
            and node.args
        ):
            key = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "raw"
        ):
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
    return found


def readme_settings() -> dict[str, Line]:
    """The first column of the README's settings table: `| `name` | meaning | ...`."""
    rows: dict[str, Line] = {}
    for line in section(README, "Settings"):
        if match := re.match(r"\| `([^`]+)` \|", line.text):
            rows[match[1]] = line
    return rows


def test_the_settings_check_reads_what_cdk_json_sets() -> None:
    """The reader above sees every key a committed stage sets (a rename of `raw` would
    otherwise make the next two tests pass on nothing)."""
    for stage, raw in cdk_json_context()["stages"].items():
        assert set(raw) <= settings_read(), f"stage {stage}: {set(raw) - settings_read()}"


def test_every_setting_is_in_the_readme_table() -> None:
    missing = sorted(settings_read() - set(readme_settings()))
    assert not missing, (
        f"README.md's settings table has no row for {', '.join(missing)}: "
        "stacks/settings.py reads them from cdk.json. Add a row (meaning, dev, prod, allowed)"
    )


def test_readme_table_names_only_settings_the_code_reads() -> None:
    read = settings_read()
    unknown = [f"{line} `{name}`" for name, line in readme_settings().items() if name not in read]
    assert not unknown, (
        f"README.md's settings table lists settings stacks/settings.py never reads: "
        f"{'; '.join(unknown)}. Remove the rows, or read the settings in Settings.from_context"
    )


# --- error codes ---------------------------------------------------------------------------


def service_errors() -> dict[str, set[int]]:
    """Every code a `ServiceError` answers with, and its statuses."""
    found: dict[str, set[int]] = {}
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.ServiceError):
            found.setdefault(cls.code, set()).add(cls.status)
    return found


def record_codes() -> set[str]:
    """Codes the worker writes into a record's `error` besides a ServiceError's: its module's
    `NAME = ("Code", "message")` constants (`RenderFailed`)."""
    source = ROOT / "lambda_src" / "image_service" / "thumbnail_worker.py"
    found: set[str] = set()
    for node in ast.parse(source.read_text(), str(source)).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            values = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            if len(values) == len(node.value.elts) == 2 and all(isinstance(v, str) for v in values):
                code = str(values[0])
                if CODE.fullmatch(code):
                    found.add(code)
    return found


def codes_listed(doc: Path) -> Iterator[tuple[Line, int, str]]:
    """(line, status, code) wherever `doc` lists codes: in a table with a `status` column and
    a column that holds codes (`code`, `headers / code`), and as `404 ThumbnailPending`."""
    for line, header, cells in table_rows(doc):
        if "status" not in header or len(cells) != len(header):
            continue
        status = cells[header.index("status")]
        if not re.fullmatch(r"[45]\d\d", status):
            continue
        for column, cell in zip(header, cells, strict=True):
            if "code" in column.split():
                for text in BACKTICKED.findall(cell):
                    if CODE.fullmatch(text):
                        yield line, int(status), text
    for line in lines(doc):
        for status, code in STATUS_AND_CODE.findall(line.text):
            yield line, int(status), code


def test_every_error_code_is_in_api_md_codes_table() -> None:
    table = {
        (int(cells[0]), cells[1].strip("`"))
        for _, header, cells in table_rows(API_MD)
        if header == ["status", "code", "meaning"]
    }
    assert table, "docs/API.md has no table '| status | code | meaning |' (its list of codes)"
    missing = sorted(
        f"{status} {code}"
        for code, statuses in service_errors().items()
        for status in statuses
        if (status, code) not in table
    )
    assert not missing, (
        f"docs/API.md's codes table has no row for {', '.join(missing)}, which "
        "lambda_src/image_service/errors.py answers with. Add '| status | `Code` | meaning |'"
    )


def test_docs_name_only_error_codes_the_service_answers() -> None:
    codes = service_errors()
    record_only = record_codes() - set(codes)
    wrong = []
    for doc in DOCS:
        for line, status, code in codes_listed(doc):
            if code in record_only:
                wrong.append(f"{line} `{status} {code}`: {code} is a record's error, no answer")
            elif code not in codes:
                wrong.append(f"{line} names `{code}`, which no ServiceError has")
            elif status not in codes[code]:
                expected = "/".join(map(str, sorted(codes[code])))
                wrong.append(f"{line} answers `{code}` with {status}; errors.py says {expected}")
    assert not wrong, (
        "; ".join(wrong) + ". Correct the doc from lambda_src/image_service/errors.py "
        f"(codes: {', '.join(sorted(codes))})"
    )


# --- the bucket's keys ---------------------------------------------------------------------

PREFIXES = tuple(value for name, value in vars(contract).items() if name.endswith("_PREFIX"))
KEY_MENTION = re.compile(rf"(?<![\w/.%-])(?:{'|'.join(map(re.escape, PREFIXES))})[^\s`'\"),;|]*")
PLACEHOLDER = re.compile(r"<[^<>/]+>")


def key_layouts() -> list[str]:
    """The keys names.py builds: each `*_key` function called with `<parameter>` for each
    parameter (`thumbnail_key(rendition, name)` gives `thumbnails/<rendition>/<name>`)."""
    layouts = []
    for function_name, function in inspect.getmembers(names, inspect.isfunction):
        if function_name.endswith("_key"):
            parameters = inspect.signature(function).parameters
            key = function(*(f"<{parameter}>" for parameter in parameters))
            if isinstance(key, str) and key.startswith(PREFIXES):
                layouts.append(key)
    return layouts


def renditions() -> set[str]:
    return {name for raw in cdk_json_context()["stages"].values() for name in raw["renditions"]}


def key_pattern() -> re.Pattern[str]:
    """A key or the start of one, as the layouts allow: `thumbnails/`, `thumbnails/thumb/`,
    `originals/<id>.<ext>`, `originals/01JDX...`, `originals/*`. The rendition's place takes
    a configured rendition, `*` or a `<placeholder>`; a name's or an id's anything but a `/`."""
    rendition = "|".join([PLACEHOLDER.pattern, r"\*", *map(re.escape, sorted(renditions()))])
    alternatives = []
    for layout in key_layouts():
        first, *rest = layout.split("/")
        pattern = ""
        for part in reversed(rest):
            slot = (
                f"(?:{rendition})"
                if part == "<rendition>"
                else "[^/]*"
                if PLACEHOLDER.search(part)
                else re.escape(part)
            )
            pattern = f"(?:/{slot}{pattern})?"
        alternatives.append(f"{re.escape(first)}{pattern}/?")
    return re.compile("|".join(alternatives))


@functools.cache
def tracked_dirs() -> frozenset[str]:
    """Every directory name in the repository's tracked paths (`web`, `js`, `infra`, ...)."""
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(part for path in listed for part in path.split("/")[:-1])


def names_something_else(token: str) -> bool:
    """A repository path, a generated folder git ignores, or a media type."""
    first = token.split("/", 1)[0]
    if first in MEDIA_TYPES or first in tracked_dirs() or (ROOT / first).exists():
        return True
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", token], cwd=ROOT)
    return ignored.returncode == 0


def test_api_md_gives_the_bucket_key_layout() -> None:
    layouts = key_layouts()
    unbuilt = [prefix for prefix in PREFIXES if not any(k.startswith(prefix) for k in layouts)]
    assert not unbuilt, f"no `*_key` function in names.py builds a key under {unbuilt}"
    documented = BACKTICKED.findall(API_MD.read_text())
    missing = [
        layout
        for layout in layouts
        if not any(
            re.fullmatch(PLACEHOLDER.sub(PLACEHOLDER.pattern, re.escape(layout)), token)
            for token in documented
        )
    ]
    assert not missing, (
        f"docs/API.md does not give the keys {', '.join(missing)} (contract.py's prefixes, "
        "names.py's layout). Name each, backticked, where the bucket's keys are described"
    )


def test_docs_name_only_keys_the_service_writes() -> None:
    layout = key_pattern()
    wrong = []
    for doc in DOCS:
        for line in lines(doc):
            for key in KEY_MENTION.findall(line.text):
                if not layout.fullmatch(key):
                    wrong.append(f"{line} names `{key}`")
            for token in BACKTICKED.findall(line.text):
                if (
                    PATH_LIKE.fullmatch(token)
                    and not token.startswith(PREFIXES)
                    and not names_something_else(token)
                ):
                    wrong.append(f"{line} names `{token}`, neither a key nor a repository path")
    assert not wrong, (
        "keys the service never writes: "
        + "; ".join(wrong)
        + f". Keys are {', '.join(key_layouts())} (contract.py, names.py) with renditions "
        f"{', '.join(sorted(renditions()))}: correct the doc"
    )
