"""Dequantises every tensor of GGUF files with llama.cpp's gguf-py and prints, per tensor, what
test/node/gguf-import.test.ts checks moxie's dequantisation against: the element count, the sum,
the sum of squares and 16 values at fixed positions. Run with gguf-py on the path (numpy only):
  GGUF_PY=/path/to/llama.cpp/gguf-py python3 bench/gguf-golden.py FILE.gguf... > golden.json
"""
import json
import os
import sys
import types

# gguf/__init__ imports its vocab module, which imports sentencepiece; dequantisation needs neither.
sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=None))
sys.path.insert(0, os.environ["GGUF_PY"])
import numpy as np  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

golden = {}
for path in sys.argv[1:]:
    for tensor in GGUFReader(path).tensors:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float64).ravel()
        picks = np.linspace(0, len(values) - 1, 16).astype(np.int64)
        golden[f"{os.path.basename(path)}:{tensor.name}"] = {
            "type": tensor.tensor_type.name,
            "count": int(len(values)),
            "sum": float(values.sum()),
            "sum_of_squares": float((values * values).sum()),
            "picks": [[int(i), float(values[i])] for i in picks],
        }
json.dump(golden, sys.stdout, indent=1, sort_keys=True)
