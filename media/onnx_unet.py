"""The embedded UNet through ONNX Runtime on a CPU (`GeneratorConfig.cpu_path: onnx`, the default).

Why: the attention-free base UNet is about 150 small convolutions; PyTorch's eager CPU path spends most of a
128 px batch in per-operator overhead and unfused kernels, and ONNX Runtime's graph optimiser (fused
conv+activation, its own CPU kernels) ran the same graph 2-6x faster on the project's 2-core machines, with
outputs within about 1e-6 of eager fp32 (frames within media.generator's CPU_PATH_TOLERANCE), so seasons
replay the same (bench/generator_cpu.py measures it; docs/facts.md). onnxruntime is already installed for
the Piper voices.

The graph is exported in memory from the live module the first time it is needed (under a second), with the
batch and the frame size dynamic, and again whenever the weights change: the key is every parameter's
identity and in-place version counter (load_state_dict and optimiser steps bump it) plus the thread count.
If the export or the session fails (a module ONNX cannot express), the UNet runs eagerly and says so once.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import torch

from common.errors import first_line
from media.generator import call_unet  # media.generator imports this module lazily: no cycle


class _Graph(torch.nn.Module):
    """The three inputs ONNX sees: latents, per-item timesteps and prompt embeddings."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return call_unet(self.unet, x, t, emb)


class OnnxUNet:
    """Runs `call_unet(unet, x, t, emb)` in an ONNX Runtime session kept in step with the module's weights."""

    def __init__(self) -> None:
        self._session = None
        self._key: tuple | None = None
        self._failed: str | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # a session cannot be pickled (Ray, deep copies): it is rebuilt on use
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    @staticmethod
    def _key_of(unet: torch.nn.Module) -> tuple:
        tensors = list(unet.parameters()) + list(unet.buffers())
        return (torch.get_num_threads(), tuple((id(p), p._version) for p in tensors))

    def __call__(
        self, unet: torch.nn.Module, x: torch.Tensor, t: torch.Tensor | int, emb: torch.Tensor
    ) -> torch.Tensor:
        if self._failed is not None:
            return call_unet(unet, x, t, emb)
        if not torch.is_tensor(t) or t.ndim == 0:  # one timestep for the whole batch: the graph takes one per item
            t = torch.full((x.shape[0],), int(t), dtype=torch.int64)
        with self._lock:
            key = self._key_of(unet)
            if key != self._key:
                self._session = self._build(unet, x, emb)
                self._key = key
            if self._session is None:
                return call_unet(unet, x, t, emb)
            feed = {
                "x": np.ascontiguousarray(x.detach().numpy(), dtype=np.float32),
                "t": np.ascontiguousarray(t.detach().numpy(), dtype=np.int64),
                "emb": np.ascontiguousarray(emb.detach().numpy(), dtype=np.float32),
            }
            return torch.from_numpy(self._session.run(None, feed)[0])

    def _build(self, unet: torch.nn.Module, x: torch.Tensor, emb: torch.Tensor):
        """Export the module at this moment and open a session, or remember why not (eager from then on)."""
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, torch.get_num_threads())
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # no spin-waiting between ops: the encoder, the eye and the LLM share the same few cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            graph = export_onnx(unet, tuple(x.shape), tuple(emb.shape))
            return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # torch.onnx and onnxruntime raise many types; eager is always correct
            self._failed = f"{type(exc).__name__}: {first_line(exc)}"
            warnings.warn(f"cpu_path onnx unavailable, the UNet runs eagerly: {self._failed}", stacklevel=3)
            return None


def export_onnx(unet: torch.nn.Module, x_shape: tuple[int, ...], emb_shape: tuple[int, ...]) -> bytes:
    """The UNet as an ONNX graph (bytes) with inputs x, t, emb and the batch and frame size dynamic; the shapes
    only give the tracer an example (bench/unet_openvino.py feeds the same graph to OpenVINO)."""
    graph = _Graph(unet).eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks inside diffusers
        example = (torch.zeros(x_shape), torch.full((x_shape[0],), 999, dtype=torch.int64), torch.zeros(emb_shape))
        buf = io.BytesIO()
        torch.onnx.export(
            graph,
            example,
            buf,
            input_names=["x", "t", "emb"],
            output_names=["out"],
            dynamic_axes={
                "x": {0: "b", 2: "h", 3: "w"},
                "t": {0: "b"},
                "emb": {0: "b"},
                "out": {0: "b", 2: "h", 3: "w"},
            },
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()
