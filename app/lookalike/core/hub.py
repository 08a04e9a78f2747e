"""Fetching a model's files from the Hugging Face Hub, cancellably and resumably.

huggingface_hub answers the questions about the repository (which commit a
branch points at; each file's ETag, size and download address after the Hub's
redirects) and provides the HTTP session. The transfer itself happens here,
chunk by chunk, so that it can stop between two chunks when asked to and carry
on later with a Range request: after a cancel, a crash or a dropped connection.
(huggingface_hub's own download deletes its temporary file when it fails, so a
cancelled 600 MB download would start again from zero.)

Each file is written as `NAME.part` in a staging folder and renamed to NAME
only once its size and its ETag (the content's SHA-256 for large files, its
git blob hash for small ones) check out. A `.download.json` beside the files
records the ETag each part belongs to, so a part is only ever resumed against
the same content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from lookalike import __version__
from lookalike.core.clip import ModelError

log = logging.getLogger(__name__)


def _hf() -> Any:
    """huggingface_hub, imported on first use: with httpx2 it takes a good part
    of a second, which starting the window or the command line should not pay."""
    import huggingface_hub
    import huggingface_hub.errors
    import huggingface_hub.utils

    return huggingface_hub


def _httpx() -> ModuleType:
    import httpx2

    return httpx2


STATE_FILE = ".download.json"
PART_SUFFIX = ".part"
CHUNK_SIZE = 1 << 20
TIMEOUT = 30.0
RETRIES = 5
RETRY_WAIT = 1.0

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "ON", "YES", "TRUE"}


class DownloadError(ModelError):
    """A download that could not finish, with what the user can do about it."""


class DownloadCancelled(DownloadError):
    """The download was asked to stop; what it fetched so far is kept for next time."""


class OfflineError(DownloadError):
    """Offline mode is on (HF_HUB_OFFLINE) and the files are not here."""


@dataclass(frozen=True)
class DownloadProgress:
    done: int  # bytes of the model that are here, including earlier runs
    total: int  # bytes of the whole model, as far as known
    rate: float  # bytes per second fetched in this run
    current: str  # the file being fetched


DownloadCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class RemoteFile:
    path: str  # inside the repository, with forward slashes
    url: str  # where to fetch it from, after the Hub's redirects
    etag: str
    size: int | None


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub's address: `endpoint`, else HF_ENDPOINT as the environment has it now.

    huggingface_hub reads HF_ENDPOINT once, when it is imported; reading it again
    here lets a mirror be chosen after that (by a setting, or by a test)."""
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or _hf().constants.ENDPOINT
    return chosen.rstrip("/")


def offline_mode() -> bool:
    """Whether HF_HUB_OFFLINE (now, or when huggingface_hub was imported) forbids the network."""
    now = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE
    return now or bool(_hf().constants.HF_HUB_OFFLINE)


def external_data_files(model_path: Path) -> list[str]:
    """The files an ONNX model keeps some of its weights in, relative to its folder."""
    import onnx  # costs a second or more to import: only when a model is checked

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as error:
        raise ModelError(f"{model_path} is not a readable ONNX model: {error}") from error
    found: dict[str, None] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        for entry in tensor.external_data:
            if entry.key == "location":
                found[entry.value] = None
    return list(found)


def _external_data_or_none(model_path: Path) -> list[str]:
    # A model that cannot be parsed names no files; checking the model says what is wrong.
    try:
        return external_data_files(model_path)
    except ModelError as error:
        log.warning("%s", error)
        return []


def content_matches(path: Path, etag: str) -> bool | None:
    """Whether a file's content is what the Hub's ETag says; None when the ETag
    is neither a SHA-256 (large files) nor a git blob hash (small ones)."""
    if _SHA256.fullmatch(etag):
        digest = hashlib.sha256()
    elif _GIT_SHA1.fullmatch(etag):
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
    else:
        return None
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest() == etag


class HubDownload:
    """Fetches files of one repository at one revision into a staging folder."""

    def __init__(
        self,
        repo_id: str,
        revision: str = "main",
        *,
        endpoint: str | None = None,
        token: str | bool | None = None,
        timeout: float = TIMEOUT,
        retries: int = RETRIES,
        retry_wait: float = RETRY_WAIT,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.endpoint = hub_endpoint(endpoint)
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.chunk_size = chunk_size
        self.commit: str | None = None
        self._headers = _hf().utils.build_hf_headers(
            token=token, library_name="lookalike", library_version=__version__
        )
        self._headers["Accept-Encoding"] = "identity"

    def run(
        self,
        staging: Path,
        files: Iterable[str],
        progress: DownloadCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, str]:
        """Fetch `files`, then any external-data files their ONNX models name,
        into `staging`. Returns each fetched file's ETag."""
        if offline_mode():
            raise OfflineError(
                f"{self.repo_id} is not downloaded and offline mode is on (HF_HUB_OFFLINE); "
                "turn it off, or import a model folder with `lookalike models import`"
            )
        cancel = cancel or threading.Event()
        staging.mkdir(parents=True, exist_ok=True)
        meter = _Meter(progress)

        remote = self._describe(list(files))
        self._fetch_all(staging, remote, meter, cancel)
        extra = [
            f"{os.path.dirname(item.path)}/{name}".lstrip("/")
            for item in remote
            if item.path.endswith(".onnx")
            for name in _external_data_or_none(staging / item.path)
        ]
        if extra:
            log.info("%s keeps weights in %s; fetching them too", self.repo_id, ", ".join(extra))
            more = self._describe(extra)
            self._fetch_all(staging, more, meter, cancel)
            remote += more
        return {item.path: item.etag for item in remote}

    # Asking the Hub

    def _describe(self, paths: list[str]) -> list[RemoteFile]:
        """HEAD each file at the pinned commit (the first call pins it)."""
        found = []
        for path in paths:
            url = _hf().hf_hub_url(
                self.repo_id, path, revision=self.commit or self.revision, endpoint=self.endpoint
            )
            try:
                metadata = _hf().get_hf_file_metadata(
                    url, token=self.token, timeout=self.timeout, headers=dict(self._headers),
                    endpoint=self.endpoint,
                )  # fmt: skip
            except (_hf().errors.RepositoryNotFoundError, _hf().errors.GatedRepoError) as error:
                raise DownloadError(
                    f"{self.repo_id} is not on the Hub at {self.endpoint}, or it is private"
                ) from error
            except _hf().errors.RevisionNotFoundError as error:
                raise DownloadError(f"{self.repo_id} has no revision {self.revision}") from error
            except _hf().errors.EntryNotFoundError as error:
                raise DownloadError(f"{self.repo_id} has no file {path}") from error
            except _hf().errors.HfHubHTTPError as error:
                raise DownloadError(f"the Hub refused {path}: {error}") from error
            except _httpx().TransportError as error:
                raise DownloadError(
                    f"cannot reach {self.endpoint} ({error}); check the network connection"
                ) from error
            if metadata.etag is None or metadata.commit_hash is None:
                raise DownloadError(
                    f"{self.endpoint} answered for {path} without an ETag or commit; "
                    "is HF_ENDPOINT a Hugging Face Hub?"
                )
            self.commit = self.commit or metadata.commit_hash
            found.append(RemoteFile(path, metadata.location, metadata.etag, metadata.size))
        return found

    # Transferring

    def _fetch_all(
        self, staging: Path, remote: list[RemoteFile], meter: _Meter, cancel: threading.Event
    ) -> None:
        state_path = staging / STATE_FILE
        state = _read_state(state_path, self.repo_id)
        for item in remote:
            if state.get(item.path) != item.etag:
                # What is there belongs to other content: start that file afresh.
                _target(staging, item).unlink(missing_ok=True)
                _part(staging, item).unlink(missing_ok=True)
            state[item.path] = item.etag
        _write_state(state_path, self.repo_id, state)

        meter.add_total(sum(item.size or 0 for item in remote))
        for item in remote:
            target = _target(staging, item)
            if target.is_file() and (item.size is None or target.stat().st_size == item.size):
                meter.advance(target.stat().st_size, item.path, fetched=False)
                continue
            self._fetch(item, target, meter, cancel)

    def _fetch(
        self, item: RemoteFile, target: Path, meter: _Meter, cancel: threading.Event
    ) -> None:
        part = target.with_name(target.name + PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if item.size is not None and have > item.size:
            part.unlink()
            have = 0
        meter.advance(have, item.path, fetched=False)

        failures = 0
        while item.size is None or have < item.size:
            if cancel.is_set():
                raise DownloadCancelled(f"stopped while fetching {item.path}")
            try:
                before = have
                have = self._transfer(item, part, have, meter, cancel)
                if item.size is None:
                    break
                if have == before:
                    raise _httpx().RemoteProtocolError("the server sent no data")
            except _httpx().TransportError as error:
                failures += 1
                if failures > self.retries:
                    raise DownloadError(
                        f"{item.path}: the connection failed {failures} times ({error}); "
                        "run the download again to carry on from where it stopped"
                    ) from error
                log.warning("%s: %s; resuming at byte %d", item.path, error, part.stat().st_size)
                have = part.stat().st_size if part.exists() else 0
                if cancel.wait(self.retry_wait * failures):
                    raise DownloadCancelled(f"stopped while fetching {item.path}") from error
            except _hf().errors.HfHubHTTPError as error:
                raise DownloadError(f"the Hub refused {item.path}: {error}") from error

        self._verify(item, part)
        os.replace(part, target)

    def _transfer(
        self, item: RemoteFile, part: Path, have: int, meter: _Meter, cancel: threading.Event
    ) -> int:
        """One GET from byte `have` on; returns how many bytes the part then holds."""
        headers = dict(self._headers)
        if urlsplit(item.url)[:2] != urlsplit(self.endpoint)[:2]:
            # A signed address on a download host: the token stays with the Hub.
            headers.pop("authorization", None)
        if have:
            headers["Range"] = f"bytes={have}-"
        with (
            _hf()
            .get_session()
            .stream(
                "GET", item.url, headers=headers, timeout=self.timeout, follow_redirects=True
            ) as response
        ):
            _hf().hf_raise_for_status(response)
            if have and response.status_code != 206:
                log.info("%s: the server ignored the Range request; starting again", item.path)
                meter.advance(-have, item.path, fetched=False)
                have = 0
            with part.open("r+b" if part.exists() else "wb") as out:
                out.seek(have)
                out.truncate()
                for chunk in response.iter_bytes(self.chunk_size):
                    if cancel.is_set():
                        raise DownloadCancelled(f"stopped while fetching {item.path}")
                    out.write(chunk)
                    have += len(chunk)
                    meter.advance(len(chunk), item.path, fetched=True)
        return have

    def _verify(self, item: RemoteFile, part: Path) -> None:
        size = part.stat().st_size
        if item.size is not None and size != item.size:
            part.unlink()
            raise DownloadError(f"{item.path} arrived with {size} bytes instead of {item.size}")
        if content_matches(part, item.etag) is False:
            part.unlink()
            raise DownloadError(
                f"{item.path} arrived damaged (its content does not match the Hub's ETag "
                f"{item.etag}); run the download again"
            )


class _Meter:
    """Adds up bytes across files and runs, and tells the callback at most every 0.1 s."""

    def __init__(self, callback: DownloadCallback | None, interval: float = 0.1) -> None:
        self.callback = callback
        self.interval = interval
        self.total = 0
        self.done = 0
        self.fetched = 0
        self.started = time.monotonic()
        self.last = 0.0

    def add_total(self, size: int) -> None:
        self.total += size

    def advance(self, size: int, current: str, fetched: bool) -> None:
        self.done += size
        if fetched:
            self.fetched += size
        now = time.monotonic()
        if self.callback is None or (now - self.last < self.interval and self.done < self.total):
            return
        self.last = now
        rate = self.fetched / max(now - self.started, 1e-6)
        self.callback(DownloadProgress(self.done, max(self.total, self.done), rate, current))


def _target(staging: Path, item: RemoteFile) -> Path:
    target = (staging / item.path).resolve()
    if not target.is_relative_to(staging.resolve()):
        raise DownloadError(f"refusing a file outside the model folder: {item.path}")
    return target


def _part(staging: Path, item: RemoteFile) -> Path:
    target = _target(staging, item)
    return target.with_name(target.name + PART_SUFFIX)


def _read_state(path: Path, repo_id: str) -> dict[str, str]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    etags = state.get("etags")
    if state.get("repo") != repo_id or not isinstance(etags, dict):
        return {}
    return {str(k): str(v) for k, v in etags.items()}


def _write_state(path: Path, repo_id: str, etags: dict[str, str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"repo": repo_id, "etags": etags}, indent=2))
    os.replace(temporary, temporary.with_name(path.name))
