"""Against the real llama-cpp-python server (`python -m llama_cpp.server`) serving the packaged SmolLM2 GGUF:
a decision applies one action and a persona completes, through the same code a user's season runs.

Extended: not in `make test` (the server must be built from source: `pip install 'llama-cpp-python[server]'`,
several minutes on 2 cores). Run with `make test-extended`, which points LLAMACPP_PYTHON at a Python that has
it. With TOTOROID_RECORD_FIXTURES=1 the HTTP exchanges are written to tests/crews/fixtures/llamacpp/, which
`test_openai_endpoint.py` replays in the regular suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agents.llm_persona import complete_with_llm
from agents.persona import Persona
from crews.llm import response_format as formats
from crews.llm_config import LLMSection
from crews.llm_policy import LLMPolicy
from policies.decide import decide_all
from tests.crews.openai_stub import StubServer
from tests.crews.test_openai_endpoint import job

pytestmark = [pytest.mark.extended, pytest.mark.timeout(1800)]  # 2 shared cores: minutes per answer

PYTHON = os.environ.get("LLAMACPP_PYTHON", sys.executable)
RECORD = os.environ.get("TOTOROID_RECORD_FIXTURES") == "1"


def _has_server() -> bool:
    probe = subprocess.run([PYTHON, "-c", "import llama_cpp.server"], capture_output=True)
    return probe.returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not _has_server():
        pytest.skip(f"llama_cpp.server not importable by {PYTHON} (set LLAMACPP_PYTHON)")
    from crews.llm.embedded_model import locate_gguf

    port = _free_port()
    log = Path(os.environ.get("LLAMACPP_LOG", "/tmp/llamacpp-server.log"))
    with log.open("w") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "llama_cpp.server", "--model", str(locate_gguf()), "--model_alias", "smollm2"]
            + ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/v1/models", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def section(api_base: str) -> LLMSection:
    return LLMSection(model="openai/smollm2", api_base=api_base, timeout_seconds=900, max_tokens=120)


def test_a_decision_on_the_real_server_applies_one_action(server):
    formats.forget_all()
    with StubServer(upstream=server) as proxy:
        pol = LLMPolicy(section(proxy.api_base))
        j = job(pol)
        before = j.control.current_settings()
        [out] = decide_all([j], 1, 1500)
        recorded = list(proxy.recorded)
    assert out.ok, out.error
    assert [a for a in out.actions if a.ok], out.actions
    assert j.control.current_settings() != before or j.control.speech or j.control.finetune_requests
    formats_sent = [(r.request or {}).get("response_format") for r in recorded]
    assert {"type": "json_object", "schema": formats_sent[-1]["schema"]} == formats_sent[-1]  # the accepted form
    if RECORD:
        for i, ex in enumerate(recorded):
            ex.save(f"decision_{i:02d}")


def test_a_persona_completes_on_the_real_server(server):
    formats.forget_all()
    with StubServer(upstream=server) as proxy:
        pol = LLMPolicy(section(proxy.api_base))
        seed = Persona(seed="a retired lighthouse keeper who streams storms")
        res = complete_with_llm(seed, pol.completer("s01", 0, "persona"), taken=set(), retries=1)
        recorded = list(proxy.recorded)
    assert res.ok, res.errors
    assert res.persona.is_complete()
    if RECORD:
        for i, ex in enumerate(recorded):
            ex.save(f"persona_{i:02d}")
