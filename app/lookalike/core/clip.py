"""CLIP models in the layout Immich publishes its exports in, run with onnxruntime.

A model folder holds `config.json`, `visual/model.onnx` with
`visual/preprocess_cfg.json`, and `textual/model.onnx` with the tokenizer's
`tokenizer.json` and `tokenizer_config.json`. Input names, dtypes and whether
the batch axis is fixed are read from the sessions. Sessions are created on
first use and released with `close()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from lookalike.core.imaging import InputSpec, Pixels

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

PROVIDER_ORDER = (
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)
PROVIDER_NAMES = {
    "CUDAExecutionProvider": "CUDA",
    "DmlExecutionProvider": "DirectML",
    "CoreMLExecutionProvider": "CoreML",
    "CPUExecutionProvider": "CPU",
}
VISUAL_VARIANTS = {
    "float": "visual/model.onnx",
    "int8": "visual/model.int8.onnx",  # made on demand by quantising the float model
}
REQUIRED_FILES = (
    "config.json",
    "visual/model.onnx",
    "visual/preprocess_cfg.json",
    "textual/model.onnx",
    "textual/tokenizer.json",
    "textual/tokenizer_config.json",
)
DEFAULT_BATCH = 16
TEXT_CACHE_SIZE = 256

ONNX_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
}


def provider_order(preference: str) -> tuple[str, ...]:
    """The providers to try for a person's choice: "auto", or one provider's
    plain name ("CUDA", "DirectML", "CoreML", "CPU"), which falls back to the CPU."""
    if preference.lower() == "auto":
        return PROVIDER_ORDER
    for provider, name in PROVIDER_NAMES.items():
        if name.lower() == preference.lower():
            return tuple(dict.fromkeys((provider, "CPUExecutionProvider")))
    raise ValueError(f"unknown execution provider {preference!r}")


CUDA_HELP = "install CUDA and cuDNN 9, or pip install 'onnxruntime-gpu[cuda,cudnn]'"


@cache
def cuda_problem() -> str | None:
    """Why onnxruntime's CUDA provider cannot load on this machine, or None when
    its libraries are found (a missing GPU or driver shows only in a session).

    onnxruntime-gpu lists CUDA as available wherever it is installed, and on a
    machine without CUDA it prints a page of errors before falling back, so the
    provider's library is loaded here first to learn which part is missing."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime was built without CUDA"
    if importlib.util.find_spec("nvidia") is not None and hasattr(ort, "preload_dlls"):
        # CUDA and cuDNN from pip (onnxruntime-gpu[cuda,cudnn]) are found only this way.
        with contextlib.redirect_stdout(io.StringIO()):
            ort.preload_dlls()
    if not sys.platform.startswith("linux"):
        return None
    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if not library.is_file():  # the double-click app leaves it out
        return "this build of Lookalike runs on the CPU only"
    try:
        ctypes.CDLL(str(library))
    except OSError as error:
        # An undefined symbol is expected: onnxruntime provides it when it loads
        # the library itself. Only a missing file settles the question.
        if "cannot open shared object file" in str(error):
            return f"{error}; {CUDA_HELP}"
    return None


@contextlib.contextmanager
def _onnxruntime_quiet() -> Iterator[None]:
    """Keep onnxruntime's own log off the terminal while a provider is tried;
    a failure is reported in our words instead."""
    ort.set_default_logger_severity(4)
    try:
        yield
    finally:
        ort.set_default_logger_severity(3)


class ModelError(Exception):
    """A model folder that cannot be used, with what is wrong in plain words."""


def normalise(vectors: npt.NDArray[Any]) -> Vectors:
    """Unit-length rows whatever the model returned; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: Vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 1e-12)
    return unit


def check_folder(folder: Path) -> None:
    """Raise ModelError naming every required file that is missing."""
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder} is not a CLIP model folder: missing {', '.join(missing)}")


@dataclass
class ProviderChoice:
    """Which execution provider a session runs on, and why others were dropped."""

    provider: str = "CPUExecutionProvider"
    dropped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return PROVIDER_NAMES.get(self.provider, self.provider)


def create_session(
    path: Path, threads: int | None, preferred: tuple[str, ...] = PROVIDER_ORDER
) -> tuple[ort.InferenceSession, ProviderChoice]:
    """A session on the first provider that works, noting each one that did not."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3

    available = set(ort.get_available_providers())
    choice = ProviderChoice()
    for provider in preferred:
        if provider not in available:
            if preferred != PROVIDER_ORDER and provider != "CPUExecutionProvider":
                name = PROVIDER_NAMES.get(provider, provider)
                choice.dropped.append(f"{name} is not part of this onnxruntime ({ort.__version__})")
            continue
        if provider == "CUDAExecutionProvider" and (problem := cuda_problem()):
            reason = f"CUDA cannot start: {problem}"
            log.warning("%s; trying the next execution provider", reason)
            choice.dropped.append(reason)
            continue
        fallback = [] if provider == "CPUExecutionProvider" else ["CPUExecutionProvider"]
        try:
            with _onnxruntime_quiet() if fallback else contextlib.nullcontext():
                session = ort.InferenceSession(str(path), options, providers=[provider, *fallback])
        except Exception as error:
            if provider == "CPUExecutionProvider":
                raise ModelError(f"{path} cannot be loaded: {error}") from error
            reason = f"{PROVIDER_NAMES.get(provider, provider)} failed: {error}"
            log.warning("%s; trying the next execution provider", reason)
            choice.dropped.append(reason)
            continue
        active = session.get_providers()[0]
        if active != provider:
            reason = (
                f"{PROVIDER_NAMES.get(provider, provider)} could not start on this machine"
                " (no usable GPU, or its driver is missing)"
            )
            log.warning("%s; using %s", reason, PROVIDER_NAMES.get(active, active))
            choice.dropped.append(reason)
        choice.provider = active
        return session, choice
    raise ModelError("onnxruntime offers no execution provider that can run this model")


@dataclass(frozen=True)
class SessionInput:
    name: str
    dtype: type[np.generic]
    shape: tuple[int | str | None, ...]

    @property
    def fixed_batch(self) -> int | None:
        first = self.shape[0] if self.shape else None
        return first if isinstance(first, int) and first > 0 else None


def _inputs(session: ort.InferenceSession) -> list[SessionInput]:
    found = []
    for item in session.get_inputs():
        if item.type not in ONNX_TYPES:
            raise ModelError(f"input {item.name} has an unsupported type {item.type}")
        found.append(SessionInput(item.name, ONNX_TYPES[item.type], tuple(item.shape)))
    return found


class ClipModel:
    """A CLIP-family model: photos and text into one embedding space."""

    def __init__(
        self,
        folder: Path,
        threads: int | None = None,
        visual_variant: str = "float",
        providers: tuple[str, ...] = PROVIDER_ORDER,
    ) -> None:
        folder = folder.expanduser().resolve()
        check_folder(folder)
        if visual_variant not in VISUAL_VARIANTS:
            raise ModelError(f"unknown visual variant {visual_variant!r}")
        if not (folder / VISUAL_VARIANTS[visual_variant]).is_file():
            raise ModelError(
                f"{folder.name} has no {visual_variant} visual model yet; "
                f"make it with `lookalike models quantize {folder.name}`"
            )
        self.folder = folder
        self.preferred = providers
        self.threads = threads
        self.visual_variant = visual_variant
        try:
            self.config: dict[str, Any] = json.loads((folder / "config.json").read_text())
            preprocess = json.loads((folder / "visual" / "preprocess_cfg.json").read_text())
            self._tokenizer_config: dict[str, Any] = json.loads(
                (folder / "textual" / "tokenizer_config.json").read_text()
            )
        except (OSError, ValueError) as error:
            raise ModelError(f"{folder} has an unreadable configuration file: {error}") from error
        self._preprocess = preprocess
        self._lock = threading.Lock()
        self._visual: ort.InferenceSession | None = None
        self._visual_input: SessionInput | None = None
        self._textual: ort.InferenceSession | None = None
        self._text_inputs: list[SessionInput] = []
        self._tokenizer: Tokenizer | None = None
        self._text_cache: OrderedDict[str, Vectors] = OrderedDict()
        self.providers: dict[str, ProviderChoice] = {}

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def dim(self) -> int:
        embed_dim = self.config.get("embed_dim")
        if isinstance(embed_dim, int) and embed_dim > 0:
            return embed_dim
        return int(self.encode_text(["a photo"]).shape[1])

    @cached_property
    def key(self) -> str:
        """Identifies this model's embedding space in the catalogue.

        The folder name alone would let two different models with the same name
        share embeddings, so the key also covers the configuration and the sizes
        of both networks.
        """
        digest = hashlib.sha1()
        digest.update((self.folder / "config.json").read_bytes())
        for part in ("visual", "textual"):
            digest.update(str(os.path.getsize(self.folder / part / "model.onnx")).encode())
        if self.visual_variant != "float":
            # A quantised encoder gives slightly different embeddings: keep them apart.
            digest.update(self.visual_variant.encode())
        return f"{self.name}-{digest.hexdigest()[:12]}"

    @property
    def provider(self) -> str:
        """The execution provider the visual encoder runs on, in plain words."""
        choice = self.providers.get("visual") or self.providers.get("textual")
        return choice.name if choice else "not loaded"

    @property
    def dropped_providers(self) -> list[str]:
        """Why each execution provider passed over was dropped, once each."""
        return list(dict.fromkeys(r for c in self.providers.values() for r in c.dropped))

    # Photos

    @property
    def visual_input(self) -> SessionInput:
        self._load_visual()
        assert self._visual_input is not None
        return self._visual_input

    @property
    def input_spec(self) -> InputSpec:
        pixel_type = "uint8" if self.visual_input.dtype is np.uint8 else "float"
        try:
            return InputSpec.from_config(self._preprocess, pixel_type)
        except (ValueError, TypeError) as error:
            raise ModelError(f"{self.folder}/visual/preprocess_cfg.json: {error}") from error

    @property
    def batch_size(self) -> int:
        return self.visual_input.fixed_batch or DEFAULT_BATCH

    def encode_images(self, pixels: list[Pixels] | Pixels) -> Vectors:
        """Unit-length embeddings for a stack of model inputs, one per row."""
        self._load_visual()
        assert self._visual is not None and self._visual_input is not None
        batch = np.stack(list(pixels)).astype(self._visual_input.dtype, copy=False)
        fixed = self._visual_input.fixed_batch
        if fixed is None:
            return normalise(self._visual.run(None, {self._visual_input.name: batch})[0])
        parts = []
        for start in range(0, len(batch), fixed):
            part = batch[start : start + fixed]
            parts.append(self._visual.run(None, {self._visual_input.name: part})[0])
        return normalise(np.concatenate(parts))

    def _load_visual(self) -> None:
        with self._lock:
            if self._visual is not None:
                return
            visual_path = self.folder / VISUAL_VARIANTS[self.visual_variant]
            session, choice = create_session(visual_path, self.threads, self.preferred)
            inputs = _inputs(session)
            if len(inputs) != 1:
                raise ModelError(f"the visual model should take one input, not {len(inputs)}")
            self._visual, self._visual_input = session, inputs[0]
            self.providers["visual"] = choice
            log.info(
                "Loaded visual model %s on %s (input %s %s)",
                self.name, choice.name, inputs[0].name, inputs[0].shape,
            )  # fmt: skip

    # Text

    def encode_text(self, texts: list[str]) -> Vectors:
        """Unit-length embeddings for each text, served from a cache when repeated."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            vectors = self._run_text(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._text_cache[text] = vector
                while len(self._text_cache) > TEXT_CACHE_SIZE:
                    self._text_cache.popitem(last=False)
        for text in texts:
            self._text_cache.move_to_end(text)
        return np.stack([self._text_cache[t] for t in texts])

    def _run_text(self, texts: list[str]) -> Vectors:
        self._load_textual()
        assert self._textual is not None and self._tokenizer is not None
        encodings = self._tokenizer.encode_batch([" ".join(t.split()) for t in texts])
        ids_input, *rest = self._text_inputs
        mask_input = next((i for i in rest if "mask" in i.name.lower()), None)

        rows = []
        for start in range(0, len(encodings), ids_input.fixed_batch or len(encodings)):
            chunk = encodings[start : start + (ids_input.fixed_batch or len(encodings))]
            feed = {ids_input.name: np.array([e.ids for e in chunk], dtype=ids_input.dtype)}
            if mask_input is not None:
                masks = [e.attention_mask for e in chunk]
                feed[mask_input.name] = np.array(masks, dtype=mask_input.dtype)
            rows.append(self._textual.run(None, feed)[0])
        return normalise(np.concatenate(rows))

    def _load_textual(self) -> None:
        with self._lock:
            if self._textual is not None:
                return
            session, choice = create_session(
                self.folder / "textual" / "model.onnx", self.threads, self.preferred
            )
            inputs = _inputs(session)
            integer_inputs = [i for i in inputs if np.issubdtype(i.dtype, np.integer)]
            if not integer_inputs:
                raise ModelError("the text model has no input for token ids")
            ids_input = next(i for i in integer_inputs if "mask" not in i.name.lower())
            self._text_inputs = [ids_input, *[i for i in inputs if i is not ids_input]]
            self._tokenizer = self._make_tokenizer(ids_input)
            self._textual = session
            self.providers["textual"] = choice
            log.info("Loaded text model %s on %s", self.name, choice.name)

    def _make_tokenizer(self, ids_input: SessionInput) -> Tokenizer:
        path = self.folder / "textual" / "tokenizer.json"
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:
            raise ModelError(f"{path} is not a valid tokenizer: {error}") from error

        length = ids_input.shape[1] if len(ids_input.shape) > 1 else None
        if not isinstance(length, int):
            text_cfg = self.config.get("text_cfg", {})
            length = int(text_cfg.get("context_length", 77))
        pad_token = str(self._tokenizer_config.get("pad_token", "<|endoftext|>"))
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ModelError(f"the tokenizer has no padding token {pad_token!r}")
        tokenizer.enable_padding(length=length, pad_id=pad_id, pad_token=pad_token)
        tokenizer.enable_truncation(max_length=length)
        return tokenizer

    def close(self) -> None:
        """Release both sessions; they are created again on next use."""
        with self._lock:
            self._visual = self._textual = None
            self._visual_input = None
            self._tokenizer = None
