"""crews.llm.registration (one way to install a litellm provider) and the import layering inside crews."""

from __future__ import annotations

import subprocess
import sys
import threading

import litellm
import pytest

import crews  # noqa: F401  (first: network features off before litellm is imported)
from crews.llm.registration import register_model_info, register_provider, registered_handler, unregister_provider
from tests.crews.scripted import ScriptedLLM


def _handler(answer: str) -> ScriptedLLM:
    return ScriptedLLM(lambda messages, tools, meta: answer)


def _ask(model: str) -> str:
    r = litellm.completion(model=model, messages=[{"role": "user", "content": "hi"}])
    return r.choices[0].message.content


def test_registering_a_name_again_replaces_the_handler():
    register_provider("regtest", _handler("first"))
    register_model_info("regtest/m", "regtest")
    assert _ask("regtest/m") == "first"
    second = _handler("second")
    register_provider("regtest", second)
    assert registered_handler("regtest") is second
    assert [p["provider"] for p in litellm.custom_provider_map].count("regtest") == 1
    assert _ask("regtest/m") == "second"


def test_an_unregistered_provider_is_never_reached():
    first = _handler("gone")
    register_provider("regtest2", first)
    register_model_info("regtest2/m", "regtest2")
    unregister_provider("regtest2")
    assert registered_handler("regtest2") is None
    with pytest.raises(Exception):  # noqa: B017  (litellm's unknown-provider error, possibly wrapped)
        _ask("regtest2/m")
    assert first.requests == []


def test_concurrent_registrations_all_land():
    names = [f"regpar{i}" for i in range(16)]
    threads = [threading.Thread(target=register_provider, args=(n, _handler(n))) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(registered_handler(n) is not None for n in names)
    for n in names:
        unregister_provider(n)


def test_crews_config_imports_neither_torch_nor_litellm():
    """crews.llm_config reaches into crews.llm (names, dtype) at import; that must stay cheap."""
    code = (
        "import sys, crews, crews.llm_config, crews.llm; "
        "from crews.llm_config import REPLAY_PREFIX, choose_dtype, is_embedded; "
        "print(sorted(m for m in ('torch', 'litellm', 'crewai', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
