"""OpenVINO against ONNX Runtime for the embedded UNet on this CPU (issue 18: "the fastest CPU path"): prints
one JSON object.

Why a bench of its own: OpenVINO is not a project dependency (a 59 MB wheel), so it is tried here before any
`cpu_path: openvino` exists. Both runtimes get the same ONNX graph (media.onnx_unet.export_onnx, what the default
`cpu_path: onnx` runs) and the same inputs: the UNet inputs of one 1-step batch of the packaged base (6 streams,
128 px by default), captured from a real `generate` call. Each is timed on the UNet call alone (best and median
of interleaved repeats), and its output is compared with eager PyTorch (largest absolute difference). OpenVINO
runs with the latency and the throughput hint in float32, and with the latency hint in bfloat16 (this CPU has
AVX512-BF16; the UNet's output then moves far more than ONNX Runtime's).

Usage: pip install openvino (into the venv, for the run), then
       .venv/bin/python bench/unet_openvino.py [--resolution 128] [--batch 6] [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.embedding import get_text_embedder  # noqa: E402
from media.generator import GeneratorConfig, TinyDiffusionGenerator, call_unet  # noqa: E402
from media.onnx_unet import export_onnx  # noqa: E402
from media.trends import DEFAULT_TOPICS  # noqa: E402


def captured_inputs(gen: TinyDiffusionGenerator, resolution: int, batch: int) -> tuple[torch.Tensor, ...]:
    """The (x, t, emb) the UNet sees in one real 1-step batch."""
    seen: list[tuple[torch.Tensor, ...]] = []
    real = gen.unet_forward

    def spy(x, t, emb):
        t = t if torch.is_tensor(t) and t.ndim else torch.full((x.shape[0],), int(t), dtype=torch.int64)
        seen.append((x.clone(), t.clone(), emb.clone()))
        return real(x, t, emb)

    gen.unet_forward = spy  # type: ignore[method-assign]
    cond = np.asarray(get_text_embedder().embed([DEFAULT_TOPICS[i % len(DEFAULT_TOPICS)] for i in range(batch)]))
    gen.generate(cond.astype(np.float32), resolution, 1, [torch.Generator().manual_seed(i) for i in range(batch)])
    gen.unet_forward = real  # type: ignore[method-assign]
    return seen[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out: dict = {"load_average_1min_at_start": round(os.getloadavg()[0], 2)}
    try:
        import openvino as ov
    except ImportError:
        print(json.dumps({"openvino": "not installed (pip install openvino)"}))
        return
    import onnxruntime as ort

    gen = TinyDiffusionGenerator(GeneratorConfig(cpu_path="eager"))
    x, t, emb = captured_inputs(gen, a.resolution, a.batch)
    with torch.inference_mode():
        ref = call_unet(gen.unet, x, t, emb).numpy()
    graph = export_onnx(gen.unet, tuple(x.shape), tuple(emb.shape))
    feed = {"x": x.numpy(), "t": t.numpy(), "emb": emb.numpy()}

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = a.threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as media.onnx_unet
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unet.onnx"
        path.write_bytes(graph)
        t0 = time.perf_counter()
        compiled = {
            f"{hint.lower()}_{precision}": core.compile_model(
                core.read_model(str(path)),
                "CPU",
                {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": precision},
            )
            for hint, precision in (("LATENCY", "f32"), ("THROUGHPUT", "f32"), ("LATENCY", "bf16"))
        }
        out["openvino_compile_seconds"] = round(time.perf_counter() - t0, 2)

    def run_ort() -> np.ndarray:
        return session.run(None, feed)[0]

    def runner(model):
        request = model.create_infer_request()

        def run() -> np.ndarray:
            return request.infer(feed)[0]

        return run

    variants = {"onnxruntime": run_ort, **{f"openvino_{k}": runner(m) for k, m in compiled.items()}}

    def eager() -> np.ndarray:
        with torch.inference_mode():
            return call_unet(gen.unet, x, t, emb).numpy()

    variants["eager"] = eager
    times: dict[str, list[float]] = {n: [] for n in variants}
    diffs = {n: float(np.abs(np.asarray(f()) - ref).max()) for n, f in variants.items()}  # also the warm-up
    for _ in range(a.repeats):  # interleaved: load from other work hits every variant alike
        for name, f in variants.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    out["variants"] = {
        n: {
            "unet_calls_per_s_best": round(1 / min(ts), 2),
            "frames_per_s_best": round(a.batch / min(ts), 1),
            "ms_median": round(1000 * statistics.median(ts), 2),
            "max_abs_diff_vs_eager": diffs[n],
        }
        for n, ts in times.items()
    }
    out.update(
        resolution=a.resolution,
        batch=a.batch,
        threads=a.threads,
        x_shape=list(x.shape),
        openvino=ov.__version__,
        onnxruntime=ort.__version__,
        load_average_1min_at_end=round(os.getloadavg()[0], 2),
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
