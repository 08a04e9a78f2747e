"""A tiny CLIP-shaped model whose embedding space is made of colours.

Real CLIP weights are hundreds of megabytes and cannot be fetched everywhere, so
tests, demos and screenshots use this model instead. It has the exact layout of
an Immich CLIP export (`config.json`, `visual/`, `textual/`) and the same input
and output conventions, but each encoder is a handful of ONNX nodes:

- visual: the mean of each normalised colour channel, projected to `dim`;
- textual: the colour words a query contains, each mapped to where a photo of
  that colour lands.

So "red" finds red photos and a photo of a lake finds other blue photos, which
is what end-to-end tests need to check a ranking rather than a non-empty list.

    python models/toy_clip.py OUT_DIR [--fixed-batch] [--size 224]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "clip-tokenizer"

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 77

# The palette the toy model understands, as sRGB triples.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 30, 35),
    "green": (40, 170, 50),
    "blue": (35, 70, 215),
    "yellow": (240, 215, 40),
    "purple": (125, 40, 165),
    "white": (245, 245, 240),
    "black": (15, 15, 20),
    "orange": (245, 130, 20),
}

# Outputs are scaled by this so that callers must normalise them, as with
# real exports whose embeddings are not unit length.
OUTPUT_SCALE = 7.5
OPSET = 18
# onnx writes its own newest IR version (12 for onnx 1.23), which onnxruntime-gpu
# can lag behind; 10 is what every onnxruntime since 1.16 reads and all we need.
IR_VERSION = 10


def colour_feature(rgb: tuple[int, int, int]) -> np.ndarray:
    """What the visual encoder's pooling yields for a photo of one flat colour."""
    pixel = np.array(rgb, dtype=np.float64) / 255.0
    return (pixel - np.array(OPENAI_MEAN)) / np.array(OPENAI_STD)


def projection(dim: int, seed: int = 7) -> np.ndarray:
    """A fixed 3 x dim projection with orthonormal rows, so cosines survive it."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, 3)))
    return q.T.astype(np.float32)


def make_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def visual_graph(dim: int, size: int, fixed_batch: bool) -> onnx.ModelProto:
    batch: int | str = 1 if fixed_batch else "batch"
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])
    weights = numpy_helper.from_array(projection(dim) * OUTPUT_SCALE, "projection")
    axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "spatial_axes")
    nodes = [
        helper.make_node("ReduceMean", ["image", "spatial_axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "projection"], ["embedding"]),
    ]
    graph = helper.make_graph(nodes, "toy_visual", [image], [out], [weights, axes])
    return make_model(graph)


def textual_graph(dim: int, token_ids: list[int], fixed_batch: bool) -> onnx.ModelProto:
    """Count each colour word's token in the query and sum their embeddings."""
    batch: int | str = 1 if fixed_batch else "batch"
    text = helper.make_tensor_value_info("text", TensorProto.INT32, [batch, CONTEXT_LENGTH])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])

    features = np.stack([colour_feature(rgb) for rgb in COLOURS.values()])
    word_vectors = (features @ projection(dim).astype(np.float64)).astype(np.float32)
    initializers = [
        numpy_helper.from_array(np.array(token_ids, dtype=np.int32), "colour_tokens"),
        numpy_helper.from_array(word_vectors * OUTPUT_SCALE, "word_vectors"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "sequence_axis"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["text", "last_axis"], ["ids"]),
        helper.make_node("Equal", ["ids", "colour_tokens"], ["hits"]),
        helper.make_node("Cast", ["hits"], ["hit_counts"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["hit_counts", "sequence_axis"], ["counts"], keepdims=0),
        helper.make_node("MatMul", ["counts", "word_vectors"], ["embedding"]),
    ]
    graph = helper.make_graph(nodes, "toy_textual", [text], [out], initializers)
    return make_model(graph)


def colour_token_ids() -> list[int]:
    vocab = json.loads((TOKENIZER_DIR / "tokenizer.json").read_text())["model"]["vocab"]
    return [vocab[f"{name}</w>"] for name in COLOURS]


def build(out: Path, *, dim: int = 16, size: int = 224, fixed_batch: bool = False) -> Path:
    """Write a complete model folder at `out` and return it."""
    (out / "visual").mkdir(parents=True, exist_ok=True)
    (out / "textual").mkdir(parents=True, exist_ok=True)

    config = {
        "embed_dim": dim,
        "vision_cfg": {"image_size": size, "layers": 0, "width": 0},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408},
    }
    preprocess = {
        "size": [size, size],
        "mode": "RGB",
        "mean": list(OPENAI_MEAN),
        "std": list(OPENAI_STD),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "visual" / "preprocess_cfg.json").write_text(json.dumps(preprocess, indent=2))
    onnx.save(visual_graph(dim, size, fixed_batch), out / "visual" / "model.onnx")
    onnx.save(textual_graph(dim, colour_token_ids(), fixed_batch), out / "textual" / "model.onnx")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(TOKENIZER_DIR / name, out / "textual" / name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--fixed-batch", action="store_true", help="batch axis fixed at 1")
    args = parser.parse_args()
    build(args.out, dim=args.dim, size=args.size, fixed_batch=args.fixed_batch)


if __name__ == "__main__":
    main()
