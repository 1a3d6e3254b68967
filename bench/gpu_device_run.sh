#!/bin/bash
# One prepared run on a bare GPU machine (issue 18), as session 8 used it on an H200: the diffusers backend's GPU
# bench, then the embedded base trained on the GPU. The machine has torch but not diffusers or pydantic, and no
# internet: carry them as wheels in .whl/ and the captions' MiniLM vectors in .devrun/captions.npz, made here:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_17_x86_64 -d .whl \
#       diffusers==0.42.1 pydantic==2.12.5 pydantic_core==2.41.5 annotated_types typing_inspection importlib_metadata
#   .venv/bin/python -m media.train_base --steps 1 --caption-embeddings .devrun/captions.npz --out /tmp/x.safetensors
# Then run `bash bench/gpu_device_run.sh` there from the repository root; results land in $OUT (or ./gpu-out).
# COMPILE=1 adds the torch.compile variants to the bench (a few minutes); A_MIN / B_MIN set the training phases.
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
export HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)" || exit 4
if [ "${COMPILE:-0}" = 1 ]; then BENCH_FLAGS="--quick"; else BENCH_FLAGS="--quick --no-compile"; fi
timeout 600 python3 bench/media.py --gpu-only $BENCH_FLAGS > "$OUT/gpu_bench.json" 2> "$OUT/gpu_bench.log"
echo "bench rc=$?"
COMMON="--device cuda --workers $(( $(nproc) - 1 )) --batch 128 --steps 200000 --resolution 64,96,128,128"
COMMON="$COMMON --channels 16,32,32,64 --text-conditioning embedding --norm position --lr 1e-3 --save-every 500"
COMMON="$COMMON --caption-embeddings .devrun/captions.npz --quiet"
python3 -m media.train_base $COMMON --ema 0.999 --seed 0 --max-minutes "${A_MIN:-6.3}" \
  --out "$OUT/phaseA.safetensors" --state "$OUT/phaseA.state.pt"
echo "phase A rc=$?"
python3 -m media.train_base $COMMON --ema 0.998 --seed 1 --max-minutes "${B_MIN:-1.5}" \
  --init-from "$OUT/phaseA.safetensors" --distill-from "$OUT/phaseA.safetensors" --distill-steps 4 \
  --distill-share 0.5 --out "$OUT/phaseB.safetensors" --state "$OUT/phaseB.state.pt"
echo "phase B rc=$?"
