"""Bad persona and season YAML stops with one located line, before anything starts."""

from pathlib import Path

import pytest

from agents.loading import builtin_persona_dir, load_persona, load_persona_pool
from common.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_one_line_seed_is_a_valid_persona(tmp_path):
    persona = load_persona(write(tmp_path, "a.yaml", "seed: a retired lighthouse keeper who streams storms\n"))
    assert persona.name is None and not persona.is_complete()
    done = persona.complete_offline()
    assert done.is_complete() and done.name and "lighthouse" in done.visual_style


def test_wrong_type_names_file_field_and_line(tmp_path):
    p = write(tmp_path, "bad.yaml", "seed: a quiet monk\nname: Moss\ntraits:\n  boldness: very\n")
    with pytest.raises(ConfigError) as e:
        load_persona(p)
    msg = str(e.value)
    assert str(p) in msg and "traits.boldness" in msg and "line 4" in msg and "\n" not in msg


def test_out_of_range_trait(tmp_path):
    p = write(tmp_path, "bad.yaml", "seed: a quiet monk\ntraits: {patience: 7}\n")
    with pytest.raises(ConfigError, match=r"line 2: field 'traits.patience'.*less than or equal to 1"):
        load_persona(p)


def test_unknown_field_is_refused(tmp_path):
    p = write(tmp_path, "bad.yaml", "seed: a quiet monk\nnmae: typo\n")
    with pytest.raises(ConfigError, match=r"line 2: field 'nmae': Extra inputs"):
        load_persona(p)


def test_missing_seed(tmp_path):
    p = write(tmp_path, "bad.yaml", "name: Nobody\n")
    with pytest.raises(ConfigError, match=r"field 'seed': Field required"):
        load_persona(p)


def test_syntax_error_has_line(tmp_path):
    p = write(tmp_path, "bad.yaml", "seed: ok\nname: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+: invalid YAML"):
        load_persona(p)


def test_not_a_mapping(tmp_path):
    p = write(tmp_path, "bad.yaml", "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_persona(p)


def test_duplicate_names_in_pool(tmp_path):
    write(tmp_path, "a.yaml", "seed: one streamer\nname: Twin\n")
    write(tmp_path, "b.yaml", "seed: another streamer\nname: Twin\n")
    with pytest.raises(ConfigError, match="duplicate persona name 'Twin'"):
        load_persona_pool(tmp_path)


def test_empty_and_missing_pool(tmp_path):
    with pytest.raises(ConfigError, match="no persona"):
        load_persona_pool(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_persona_pool(tmp_path / "nope")


def test_builtin_pool_loads_and_has_seed_only_personas():
    pool = load_persona_pool(builtin_persona_dir())
    assert len(pool) >= 6
    assert any(not p.is_complete() for p in pool), "the pool should show one-line seed personas too"
    names = [p.complete_offline().display_name for p in pool]
    assert len(set(names)) == len(names)


def test_one_error_hierarchy_every_user_error_exits_2():
    """ConfigError and FieldError live in common.errors only: no other module defines or re-exports them."""
    import agents.yamlfile
    from common.errors import ArenaError, FieldError, StorageError, UserError

    assert not hasattr(agents.yamlfile, "FieldError") and "ConfigError" not in agents.yamlfile.__all__
    for cls in (ConfigError, FieldError, StorageError):
        assert issubclass(cls, UserError) and issubclass(cls, ArenaError) and cls.exit_code == 2
    err = FieldError("generator.model", "cannot load x")
    assert str(err) == "field 'generator.model': cannot load x" and isinstance(err, ConfigError)
