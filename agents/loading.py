"""Read the persona pool: every `*.yaml` file of a folder is one persona.

A one-line file (`seed: ...`) is a valid persona. A file that is wrong stops the season before it starts,
with one located line (see `agents.yamlfile`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from agents.persona import Persona
from agents.yamlfile import load_model
from common.errors import ConfigError


def builtin_persona_dir() -> Path:
    return Path(str(resources.files("agents") / "personas"))


def load_persona(path: str | Path) -> Persona:
    return load_model(path, Persona)


def load_persona_pool(folder: str | Path) -> list[Persona]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: persona folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        raise ConfigError(f"{folder}: no persona *.yaml files in the folder")
    personas = [load_persona(p) for p in files]
    names: dict[str, Path] = {}
    for path, persona in zip(files, personas):
        if persona.name:
            if persona.name in names:
                raise ConfigError(
                    f"{path}: field 'name': duplicate persona name {persona.name!r} (also in {names[persona.name]})"
                )
            names[persona.name] = path
    return personas
