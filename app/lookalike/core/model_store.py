"""The models a data folder holds, and how new ones come in.

The catalogue of downloadable models ships with the application
(`catalog.json` beside this module). Installed models are folders under the
data folder's `models/`. A model arrives by download or import into a staging
folder (`models/.partial/NAME`), is checked there (the layout, and both ONNX
networks load and fit together), and only then is renamed into place, so a
folder under `models/` is always complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from lookalike.core.clip import (
    ONNX_TYPES,
    REQUIRED_FILES,
    VISUAL_VARIANTS,
    ClipModel,
    ModelError,
    check_folder,
)
from lookalike.core.hub import DownloadCallback, HubDownload, external_data_files

log = logging.getLogger(__name__)

CATALOG_FILE = Path(__file__).with_name("catalog.json")
SOURCE_FILE = "lookalike-source.json"
STAGING = ".partial"
INT8_VISUAL = VISUAL_VARIANTS["int8"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


@dataclass(frozen=True)
class CatalogEntry:
    """A model Lookalike knows how to download."""

    name: str
    repo: str
    revision: str = "main"
    purpose: str = ""
    embed_dim: int | None = None
    image_size: int | None = None
    approx_download_mb: int | None = None
    recall: dict[str, float] = field(default_factory=dict)
    files: tuple[str, ...] = REQUIRED_FILES
    source: tuple[str, ...] = ()
    notes: str = ""
    default: bool = False


def load_catalog(path: Path = CATALOG_FILE) -> list[CatalogEntry]:
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    entries = []
    for item in raw["models"]:
        entries.append(
            CatalogEntry(
                name=item["name"],
                repo=item["repo"],
                revision=item.get("revision", "main"),
                purpose=item.get("purpose", ""),
                embed_dim=item.get("embed_dim"),
                image_size=item.get("image_size"),
                approx_download_mb=item.get("approx_download_mb"),
                recall=dict(item.get("recall", {})),
                files=tuple(item.get("files", REQUIRED_FILES)),
                source=tuple(item.get("source", ())),
                notes=item.get("notes", ""),
                default=item["name"] == raw.get("default"),
            )
        )
    return entries


def catalog_entry(name: str, catalog: list[CatalogEntry] | None = None) -> CatalogEntry:
    """The entry called `name` (or with that repository); any other `owner/repo`
    is taken as an Immich-layout repository that is not in the catalogue."""
    catalog = load_catalog() if catalog is None else catalog
    for entry in catalog:
        if name in (entry.name, entry.repo):
            return entry
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return CatalogEntry(name=name.split("/")[1], repo=name)
    known = ", ".join(e.name for e in catalog)
    raise ModelError(f"no model called {name!r} in the catalogue (known: {known}), "
                     "and it is not a Hugging Face repository id (owner/name)")  # fmt: skip


# Checking a folder


@dataclass(frozen=True)
class ModelCheck:
    """What checking a model folder found out about it."""

    dim: int | None
    visual_input: str
    text_inputs: str


def _describe(item: Any) -> str:
    return f"{item.name} {item.type} {list(item.shape)}"


def _session(path: Path, problems: list[str], label: str) -> ort.InferenceSession | None:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        problems.append(f"{label} cannot be loaded by onnxruntime: {first_line}")
        return None


def _embedding_size(session: ort.InferenceSession, label: str, problems: list[str]) -> int | None:
    outputs = session.get_outputs()
    if not outputs:
        problems.append(f"{label} has no output")
        return None
    shape = list(outputs[0].shape)
    if len(shape) != 2:
        problems.append(
            f"{label} should output one embedding per row (rank 2), but its output "
            f"{_describe(outputs[0])} has rank {len(shape)}"
        )
        return None
    return shape[1] if isinstance(shape[1], int) else None


def check_model(folder: Path, visual: str = VISUAL_VARIANTS["float"]) -> ModelCheck:
    """Check a model folder thoroughly: its files, its configuration, and that both
    ONNX networks load with the inputs and outputs Lookalike needs. Raises
    ModelError listing every problem found."""
    check_folder(folder)
    problems: list[str] = []
    config: dict[str, Any] = {}
    for name in ("config.json", "visual/preprocess_cfg.json", "textual/tokenizer_config.json"):
        try:
            loaded = json.loads((folder / name).read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            if name == "config.json":
                config = loaded
        except (OSError, ValueError) as error:
            problems.append(f"{name} is not valid JSON: {error}")
    try:
        Tokenizer.from_file(str(folder / "textual" / "tokenizer.json"))
    except Exception as error:
        problems.append(f"textual/tokenizer.json is not a tokenizer: {error}")

    dims: dict[str, int | None] = {}
    visual_input = text_inputs = "?"
    visual_session = _session(folder / visual, problems, visual)
    if visual_session is not None:
        inputs = visual_session.get_inputs()
        visual_input = ", ".join(_describe(i) for i in inputs)
        if len(inputs) != 1:
            problems.append(f"{visual} should take one image input, but takes {len(inputs)}: "
                            f"{visual_input}")  # fmt: skip
        elif len(inputs[0].shape) != 4:
            problems.append(f"{visual} should take images of rank 4 (batch, channels, height, "
                            f"width), but its input is {visual_input}")  # fmt: skip
        elif ONNX_TYPES.get(inputs[0].type) not in (np.float32, np.float16, np.uint8):
            problems.append(f"{visual} takes {inputs[0].type} pixels; "
                            "it should take float, float16 or uint8")  # fmt: skip
        dims["visual"] = _embedding_size(visual_session, visual, problems)

    textual = "textual/model.onnx"
    text_session = _session(folder / textual, problems, textual)
    if text_session is not None:
        inputs = text_session.get_inputs()
        text_inputs = ", ".join(_describe(i) for i in inputs)
        integer = [
            i for i in inputs
            if ONNX_TYPES.get(i.type) in (np.int32, np.int64) and "mask" not in i.name.lower()
        ]  # fmt: skip
        if not integer:
            problems.append(f"{textual} has no integer input for token ids; its inputs are "
                            f"{text_inputs or 'none'}")  # fmt: skip
        dims["textual"] = _embedding_size(text_session, textual, problems)

    known = {k: v for k, v in dims.items() if v is not None}
    if len(set(known.values())) > 1:
        problems.append(
            f"the networks do not share one embedding space: the visual model outputs "
            f"{known['visual']} numbers per photo, the text model {known['textual']}"
        )
    embed_dim = config.get("embed_dim")
    if isinstance(embed_dim, int):
        for network, size in known.items():
            if size != embed_dim:
                problems.append(f"config.json says embed_dim {embed_dim}, but the {network} "
                                f"model outputs {size}")  # fmt: skip

    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ModelError(f"{folder} is not a usable CLIP model:\n{listed}")
    dim = next(iter(known.values()), embed_dim if isinstance(embed_dim, int) else None)
    return ModelCheck(dim, visual_input, text_inputs)


def model_files(folder: Path) -> list[str]:
    """The files of a model folder that Lookalike uses, relative to it."""
    files = list(REQUIRED_FILES)
    if (folder / INT8_VISUAL).is_file():
        files.append(INT8_VISUAL)
    for onnx_file in [f for f in files if f.endswith(".onnx")]:
        parent = os.path.dirname(onnx_file)
        files += [f"{parent}/{name}" for name in external_data_files(folder / onnx_file)]
    return list(dict.fromkeys(files))


# The installed models


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size: int  # bytes on disk
    repo: str | None  # where it was downloaded from, None when imported
    commit: str | None
    has_int8: bool


class ModelStore:
    """The models folder of one data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def staging(self) -> Path:
        return self.root / STAGING

    def folder(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ModelError(f"{name!r} cannot be a model name: use letters, digits and . _ + -")
        return self.root / name

    def installed(self) -> list[InstalledModel]:
        found: list[InstalledModel] = []
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                check_folder(path)
            except ModelError:
                log.warning("%s is not a complete model folder; ignoring it", path)
                continue
            source = _read_json(path / SOURCE_FILE)
            found.append(
                InstalledModel(
                    name=path.name,
                    path=path,
                    size=sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
                    repo=source.get("repo"),
                    commit=source.get("commit"),
                    has_int8=(path / INT8_VISUAL).is_file(),
                )
            )
        return found

    def is_installed(self, name: str) -> bool:
        return _NAME.fullmatch(name) is not None and (self.root / name / "config.json").is_file()

    def find(self, name_or_path: str | Path) -> Path:
        """An installed model by name, or else a model folder by path."""
        text = str(name_or_path)
        if self.is_installed(text):
            return self.root / text
        path = Path(text).expanduser()
        if path.is_dir():
            check_folder(path)
            return path.resolve()
        names = ", ".join(m.name for m in self.installed()) or "none"
        raise ModelError(f"{text} is neither an installed model (installed: {names}) nor a folder")

    # Bringing models in

    def download(
        self,
        entry: CatalogEntry,
        progress: DownloadCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        endpoint: str | None = None,
        replace: bool = False,
        **hub_options: Any,
    ) -> Path:
        """Download a catalogue model and install it; an installed one is kept as
        it is unless `replace`. Cancelling keeps what was fetched for next time."""
        target = self.folder(entry.name)
        if target.exists() and not replace:
            return target
        staging = self.staging / entry.name
        hub = HubDownload(entry.repo, entry.revision, endpoint=endpoint, **hub_options)
        etags = hub.run(staging, entry.files, progress, cancel)

        source = {
            "repo": entry.repo, "revision": entry.revision, "commit": hub.commit,
            "endpoint": hub.endpoint, "etags": etags, "downloaded": time.time(),
        }  # fmt: skip
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=2))
        try:
            check_model(staging)
        except ModelError as error:
            # Every file matched its ETag, so fetching again would not help.
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelError(f"{entry.repo} downloaded but is not usable: {error}") from error
        (staging / ".download.json").unlink(missing_ok=True)
        return self._install(staging, target, replace)

    def import_folder(self, source: Path, name: str | None = None, replace: bool = False) -> Path:
        """Check a model folder and copy the files Lookalike uses into the store."""
        source = source.expanduser().resolve()
        check_model(source)
        target = self.folder(name or source.name)
        if target.exists() and not replace:
            raise ModelError(f"a model called {target.name} is installed already; "
                             "choose another name with --name")  # fmt: skip
        staging = self.staging / f"{target.name}.{uuid.uuid4().hex[:8]}"
        try:
            for relative in model_files(source):
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / relative, staging / relative)
            check_folder(staging)
            return self._install(staging, target, replace)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _install(self, staging: Path, target: Path, replace: bool) -> Path:
        """Rename a checked staging folder into place (one rename: complete or absent)."""
        old = None
        if target.exists():
            if not replace:
                raise ModelError(f"a model called {target.name} is installed already")
            old = self.staging / f"{target.name}.old.{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log.info("Installed model %s at %s", target.name, target)
        return target

    def remove_partial(self, name: str) -> None:
        shutil.rmtree(self.staging / name, ignore_errors=True)


# Quantisation


@dataclass(frozen=True)
class Agreement:
    """How closely the int8 visual encoder follows the float one."""

    mean: float
    min: float
    count: int


def quantize_visual(folder: Path, replace: bool = False) -> Path:
    """Write an int8 (dynamically quantised) copy of the visual encoder beside it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # imports onnx: slow

    check_folder(folder)
    target = folder / INT8_VISUAL
    if target.is_file() and not replace:
        return target
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        quantize_dynamic(folder / VISUAL_VARIANTS["float"], temporary,
                         weight_type=QuantType.QInt8)  # fmt: skip
        os.replace(temporary, target)
    except Exception as error:
        raise ModelError(f"{folder.name}: quantising the visual model failed: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return target


def agreement(
    folder: Path, batches: list[np.ndarray[Any, Any]], threads: int | None = None
) -> Agreement:
    """Cosine similarity between float and int8 embeddings of the same inputs."""
    exact = ClipModel(folder, threads=threads)
    fast = ClipModel(folder, threads=threads, visual_variant="int8")
    try:
        cosines = [
            np.sum(exact.encode_images(batch) * fast.encode_images(batch), axis=1)
            for batch in batches
        ]
    finally:
        exact.close()
        fast.close()
    values = np.concatenate(cosines)
    return Agreement(float(values.mean()), float(values.min()), int(values.size))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
