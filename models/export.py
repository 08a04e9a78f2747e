"""Export an open_clip model to ONNX, as a model folder in the Immich layout.

The folder holds `config.json` (open_clip's model configuration),
`visual/model.onnx` with `visual/preprocess_cfg.json`, and `textual/model.onnx`
with `textual/tokenizer.json` and `textual/tokenizer_config.json`: what
`lookalike.core.clip.ClipModel` loads. Both encoders get a dynamic batch axis;
the visual one takes "image", float32 [batch, 3, S, S], the textual one takes
"text", int32 [batch, context_length], and each returns unnormalised embeddings.

    python models/export.py ViT-B-32 --pretrained openai OUT_DIR [--random-init] [--opset N]

`--random-init` builds the architecture with random weights instead of
downloading them: it costs exactly what the real model costs to run, which is
all a benchmark needs, and works where model hubs cannot be reached. After
writing, the export is checked against the torch model on a few random images
and texts, and the largest difference is printed.

This is a developer tool with its own dependencies (`pip install -e .[export]`:
torch, open-clip-torch, onnx); the application itself never imports torch.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import open_clip
import torch
from torch import nn

log = logging.getLogger("export")

CLIP_TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "clip-tokenizer"
PREPROCESS_KEYS = ("size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color")
DEFAULT_OPSET = 18
# Above this many bytes of weights a graph no longer fits in one protobuf file.
SINGLE_FILE_LIMIT = 1_800_000_000
CHECK_TEXTS = ("a photo of a dog", "sunset over a mountain lake", "")
CHECK_TOLERANCE = 1e-3  # largest difference allowed, relative to the largest output value


class VisualEncoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(image)


class TextualEncoder(nn.Module):
    """Takes int32 token ids, the type the app feeds, and widens them for the
    embedding lookup inside the graph."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(text.long())


def load_model(
    architecture: str, pretrained: str | None, random_init: bool
) -> tuple[nn.Module, dict[str, Any]]:
    """The torch model in eval mode, and the model configuration to write beside it."""
    config = open_clip.get_model_config(architecture)
    if config is None:
        raise SystemExit(f"unknown architecture {architecture!r}; see open_clip.list_models()")
    config = copy.deepcopy(config)

    tag_config: dict[str, Any] = {}
    if pretrained and Path(pretrained).is_file():
        pass  # a checkpoint file: the architecture's own settings apply
    elif pretrained:
        tag_config = open_clip.get_pretrained_cfg(architecture, pretrained)
        if not tag_config:
            known = ", ".join(open_clip.list_pretrained_tags_by_model(architecture)) or "none"
            raise SystemExit(
                f"{architecture} has no pretrained tag {pretrained!r} (known: {known})"
            )
    elif not random_init:
        raise SystemExit("name the weights with --pretrained TAG, or pass --random-init")

    # Some tags were trained with QuickGELU though their architecture's config
    # does not say so; the exported graph must use the activation they need.
    quick_gelu = bool(tag_config.get("quick_gelu", False))
    if quick_gelu:
        config["quick_gelu"] = True
    preprocess = {key: tag_config[key] for key in PREPROCESS_KEYS if key in tag_config}

    torch.manual_seed(0)
    if random_init:
        model = open_clip.create_model(
            architecture,
            pretrained=None,
            force_quick_gelu=quick_gelu,
            force_preprocess_cfg=preprocess,
            pretrained_image=False,
            pretrained_text=False,
        )
    else:
        model = open_clip.create_model(
            architecture, pretrained=pretrained, force_quick_gelu=quick_gelu
        )
    return model.eval(), config


def preprocess_config(model: nn.Module) -> dict[str, Any]:
    """The model's image preprocessing as `visual/preprocess_cfg.json` spells it."""
    found = open_clip.get_model_preprocess_cfg(model)
    size = found.get("size", 224)
    side = [int(size), int(size)] if isinstance(size, int) else [int(s) for s in size]
    return {
        "size": side,
        "mode": found.get("mode", "RGB"),
        "mean": [float(v) for v in found.get("mean", open_clip.OPENAI_DATASET_MEAN)],
        "std": [float(v) for v in found.get("std", open_clip.OPENAI_DATASET_STD)],
        "interpolation": found.get("interpolation", "bicubic"),
        "resize_mode": found.get("resize_mode", "shortest"),
        "fill_color": int(found.get("fill_color", 0)),
    }


def export_graph(
    encoder: nn.Module,
    example: torch.Tensor,
    names: tuple[str, str],
    path: Path,
    opset: int,
    exporter: str = "dynamo",
) -> None:
    """Write one encoder with a dynamic batch axis; `names` are its input's and
    its output's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    input_name, output_name = names
    # Above the protobuf limit the weights must go to a side file next to the graph.
    external = sum(p.numel() * p.element_size() for p in encoder.parameters()) > SINGLE_FILE_LIMIT
    with torch.no_grad():
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=4096)
            torch.onnx.export(
                encoder,
                (example,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes={input_name: {0: batch}},
                opset_version=opset,
                external_data=external,
                dynamo=True,
            )
        else:
            # The TorchScript exporter cannot translate the fused attention
            # kernel nn.MultiheadAttention picks in inference mode.
            torch.backends.mha.set_fastpath_enabled(False)
            torch.onnx.export(
                encoder,
                (example,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
    onnx.checker.check_model(str(path))


def write_tokenizer(architecture: str, config: dict[str, Any], textual: Path) -> None:
    """CLIP's BPE comes from the copy in the tests' data; other tokenizers are
    saved from the Hugging Face tokenizer open_clip uses for the model."""
    tokenizer = open_clip.get_tokenizer(architecture)
    inner = getattr(tokenizer, "tokenizer", None)
    if isinstance(tokenizer, open_clip.SimpleTokenizer) or inner is None:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(CLIP_TOKENIZER_DIR / name, textual / name)
        return

    with tempfile.TemporaryDirectory() as scratch:
        inner.save_pretrained(scratch)
        shutil.copyfile(Path(scratch) / "tokenizer.json", textual / "tokenizer.json")
    tokenizer_config = {
        "pad_token": inner.convert_ids_to_tokens(inner.pad_token_id),
        "model_max_length": config["text_cfg"].get("context_length", 77),
    }
    (textual / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")


def example_text(architecture: str, count: int) -> torch.Tensor:
    tokenizer = open_clip.get_tokenizer(architecture)
    texts = [CHECK_TEXTS[i % len(CHECK_TEXTS)] for i in range(count)]
    return tokenizer(texts).to(torch.int32)


def check(encoder: nn.Module, example: torch.Tensor, input_name: str, path: Path) -> float:
    """Run the export and the torch module on the same input; return the largest
    difference relative to the largest output value."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(None, {input_name: example.numpy()})[0]
    with torch.no_grad():
        expected = encoder(example).numpy()
    difference = float(np.max(np.abs(exported - expected)))
    scale = float(np.max(np.abs(expected))) or 1.0
    log.info(
        "%s: batch %d, max abs difference %.3g (output scale %.3g)",
        path.relative_to(path.parent.parent), len(example), difference, scale,
    )  # fmt: skip
    return difference / scale


def export(
    architecture: str,
    pretrained: str | None,
    out: Path,
    *,
    random_init: bool = False,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    verify: bool = True,
) -> Path:
    """Write a complete model folder at `out` and return it."""
    model, config = load_model(architecture, pretrained, random_init)
    preprocess = preprocess_config(model)
    side = preprocess["size"]
    context_length = int(config["text_cfg"].get("context_length", 77))

    visual, textual = VisualEncoder(model).eval(), TextualEncoder(model).eval()
    image = torch.randn(2, 3, side[0], side[1])
    text = example_text(architecture, 2)
    if text.shape[1] != context_length:
        raise SystemExit(f"the tokenizer makes {text.shape[1]} tokens, not {context_length}")

    out.mkdir(parents=True, exist_ok=True)
    # "embedding" alone would clash with a node the dynamo exporter names
    # after the text tower's token embedding.
    visual_path, textual_path = out / "visual" / "model.onnx", out / "textual" / "model.onnx"
    export_graph(visual, image, ("image", "image_embedding"), visual_path, opset, exporter)
    export_graph(textual, text, ("text", "text_embedding"), textual_path, opset, exporter)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "visual" / "preprocess_cfg.json").write_text(json.dumps(preprocess, indent=2) + "\n")
    write_tokenizer(architecture, config, out / "textual")

    if verify:
        # A batch size other than the traced one shows the batch axis is free.
        worst = max(
            check(visual, torch.randn(3, 3, side[0], side[1]), "image", visual_path),
            check(textual, example_text(architecture, 3), "text", textual_path),
        )
        if worst > CHECK_TOLERANCE:
            raise SystemExit(f"the export differs from the torch model by {worst:.3g} (relative)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("architecture", help="an open_clip architecture, e.g. ViT-B-32")
    parser.add_argument(
        "--pretrained", help="an open_clip pretrained tag (e.g. openai) or a checkpoint file"
    )
    parser.add_argument("out", type=Path, help="the model folder to write")
    parser.add_argument(
        "--random-init", action="store_true", help="random weights; download nothing"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument(
        "--exporter",
        choices=("dynamo", "torchscript"),
        default="dynamo",
        help="torch.onnx's exporter to use (default: dynamo)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip comparing the export with torch"
    )
    args = parser.parse_args()

    # open_clip and the exporter's optimiser are chatty at INFO; only this tool speaks at it.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    export(
        args.architecture,
        args.pretrained,
        args.out,
        random_init=args.random_init,
        opset=args.opset,
        exporter=args.exporter,
        verify=not args.no_verify,
    )
    log.info("Wrote %s", args.out)


if __name__ == "__main__":
    main()
