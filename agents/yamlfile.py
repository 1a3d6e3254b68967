"""Load a YAML file into a pydantic model, and say exactly where it is wrong.

Users write season and persona YAML by hand; a bad file must stop the arena with ONE line naming the file,
the field, the line and the problem. PyYAML's node tree keeps line marks, so after validation fails we walk
the pydantic error location down the node tree to find the line of the offending value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

__all__ = ["load_model", "read_mapping", "read_yaml", "validation_message"]


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along `loc` that exists in the document."""
    node = root
    line = root.start_mark.line + 1 if root is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    nxt = value_node
                    line = key_node.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file, returning (data, node tree). Syntax errors become a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    return data, node


def validation_message(path: Path | str, exc: ValidationError, node: yaml.Node | None) -> str:
    """One line for the first error of a pydantic ValidationError, located in the YAML file."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = _node_line(node, loc)
    where = f" line {line}" if line else ""
    more = len(exc.errors()) - 1
    extra = f" (+{more} more)" if more > 0 else ""
    value = err.get("input")
    shown = ""
    if err.get("type") not in ("missing", "extra_forbidden") and not isinstance(value, (dict, list)):
        shown = f" (got {value!r})"
    return f"{path}:{where}: field '{field}': {err['msg']}{shown}{extra}"


def read_mapping(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse a YAML file that must hold a mapping of fields (an empty file is an empty mapping)."""
    data, node = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: line 1: expected a mapping of fields, got {type(data).__name__}")
    return data, node


def load_model(path: str | Path, model: type[M], *, data_override: dict[str, Any] | None = None) -> M:
    """Read `path` and validate it as `model`; any problem raises ConfigError with one located line."""
    path = Path(path)
    data, node = read_mapping(path)
    if data_override:
        data = {**data, **data_override}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc, node)) from None
