#!/usr/bin/env bash
# The GPU check, as run on a lent GPU machine (no network there): install the wheels
# carried in .gpu/ (pandas 3, LightGBM) over the image's torch, run the tests that train
# on CUDA, then benchmarks/gpu.py. Usage: bash benchmarks/gpu_check.sh OUT_DIR
set -uo pipefail
out=${1:?OUT_DIR}
nvidia-smi -L
python3 -m pip install -q --no-deps .gpu/*.whl 2>&1 | tail -2
python3 -c "import torch, pandas, pyarrow, sklearn, lightgbm; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'pandas', pandas.__version__, 'pyarrow', pyarrow.__version__)"
export PYTHONPATH=$PWD
timeout 200 python3 -m pytest -q -p no:cacheprovider ${GPU_TESTS:-tests/test_gpu.py tests/test_models.py tests/test_strong.py tests/test_distributed.py} 2>&1 | tail -25 | tee "$out/tests.txt"
timeout "${BENCH_TIMEOUT:-300}" python3 benchmarks/gpu.py --data .gpu --out "$out/gpu.json" --rows "${ROWS:-1000000}" ${GPU_ARGS:-} 2>&1 | tail -30
