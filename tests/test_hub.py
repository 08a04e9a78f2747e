"""Downloading a model from a Hugging Face Hub: a real HTTP server on 127.0.0.1
that speaks the part of the Hub's protocol huggingface_hub and Lookalike use,
serving a toy model folder. Nothing here leaves the loopback interface."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import onnx
import pytest

import toy_clip
from lookalike.core import hub
from lookalike.core.clip import REQUIRED_FILES, ClipModel, ModelError
from lookalike.core.hub import DownloadCancelled, DownloadError, HubDownload, OfflineError
from lookalike.core.model_store import CatalogEntry, ModelStore

REPO_ID = "immich-app/ViT-B-32__openai"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LARGE = (".onnx", ".onnx_data")  # served as LFS files are: through a redirect


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeHub:
    """What the server serves and how it misbehaves, and what it was asked."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)  # served with one byte changed
    drop_once: dict[str, int] = field(default_factory=dict)  # path -> bytes before hanging up
    # path -> (bytes to send, event to set) before sending the rest
    pause: dict[str, tuple[int, threading.Event]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    cdn_url: str = ""

    def add_model(self, repo_id: str, folder: Path) -> dict[str, bytes]:
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        self.repos[repo_id] = files
        return files

    def ranges(self, path: str) -> list[str]:
        return [
            r.headers["range"]
            for r in self.requests
            if r.method == "GET" and r.path.endswith("/" + path) and "range" in r.headers
        ]

    def gets(self, path: str) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and r.path.endswith("/" + path))


def _handler(state: FakeHub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Request(self.command, self.path, headers))
            if role == "cdn":
                return self._cdn(body)
            parts = unquote(urlsplit(self.path).path).lstrip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return self._status(404, "EntryNotFound")
            repo_id, revision, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            if repo_id not in state.repos or revision not in ("main", COMMIT):
                return self._status(401 if repo_id not in state.repos else 404,
                                    "RepoNotFound" if repo_id not in state.repos
                                    else "RevisionNotFound")  # fmt: skip
            files = state.repos[repo_id]
            if path not in files:
                return self._status(404, "EntryNotFound")
            data = files[path]
            if path.endswith(LARGE):
                # Like the Hub: the metadata of the file, and a redirect to a CDN.
                self.send_response(302)
                self.send_header("Location", f"{state.cdn_url}/{repo_id}/{path}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("ETag", f'"{git_sha1(b"pointer " + data[:8])}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._content(path, data, body, {
                "X-Repo-Commit": COMMIT, "ETag": f'"{git_sha1(data)}"',
            })  # fmt: skip

        def _cdn(self, body: bool) -> None:
            parts = unquote(urlsplit(self.path).path).lstrip("/").split("/")
            repo_id, path = "/".join(parts[:2]), "/".join(parts[2:])
            data = state.repos.get(repo_id, {}).get(path)
            if data is None:
                return self._status(404, "")
            return self._content(path, data, body, {"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

        def _content(self, path: str, data: bytes, body: bool, extra: dict[str, str]) -> None:
            if path in state.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes="):
                start = int(range_header[len("bytes=") :].split("-")[0])
            self.send_response(206 if start else 200)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if not body:
                return
            rest = data[start:]
            if path in state.drop_once:
                cut = state.drop_once.pop(path)
                self.wfile.write(rest[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if path in state.pause:
                cut, event = state.pause.pop(path)
                self.wfile.write(rest[:cut])
                self.wfile.flush()
                time.sleep(0.3)  # for the client to write what it has had so far
                event.set()
                rest = rest[cut:]
            self.wfile.write(rest)

        def _status(self, code: int, error_code: str) -> None:
            self.send_response(code)
            self.send_header("X-Error-Code", error_code)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-file is what some tests do


@pytest.fixture(name="fake_hub")
def fake_hub_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A Hub on one loopback port and its "CDN" on another, like huggingface.co."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "")  # never a real token, never a token file
    state = FakeHub()
    servers = []
    for role in ("hub", "cdn"):
        server = QuietServer(("127.0.0.1", 0), _handler(state, role))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        servers.append(server)
    state.url, state.cdn_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    monkeypatch.setenv("HF_ENDPOINT", state.url)
    yield state
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def big_toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy model with wide embeddings, so each network is a few hundred kB."""
    return toy_clip.build(tmp_path_factory.mktemp("hub") / "toy", dim=8192)


def quick(**options: Any) -> HubDownload:
    return HubDownload(REPO_ID, timeout=5, retry_wait=0.01, chunk_size=4096, **options)


def same_files(folder: Path, files: dict[str, bytes]) -> None:
    for path in REQUIRED_FILES:
        assert (folder / path).read_bytes() == files[path], path


def test_a_model_downloads_through_redirects_and_pins_the_commit(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    seen = []
    etags = quick().run(tmp_path / "staging", REQUIRED_FILES, progress=seen.append)

    same_files(tmp_path / "staging", files)
    assert set(etags) == set(REQUIRED_FILES)
    assert seen and seen[-1].done == seen[-1].total == sum(len(files[p]) for p in REQUIRED_FILES)
    # HF_ENDPOINT was set after huggingface_hub was imported, and still chose the server.
    heads = [r.path for r in fake_hub.requests if r.method == "HEAD"]
    assert heads[0] == f"/{REPO_ID}/resolve/main/config.json"
    assert all(f"/resolve/{COMMIT}/" in path for path in heads[1:])
    assert fake_hub.gets("visual/model.onnx") == 1  # from the CDN, not through the Hub
    assert not any(p.name.endswith(hub.PART_SUFFIX) for p in (tmp_path / "staging").rglob("*"))


def test_a_dropped_connection_resumes_with_a_range_request(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    size = len(files["textual/model.onnx"])
    fake_hub.drop_once["textual/model.onnx"] = size // 3

    quick().run(tmp_path / "staging", REQUIRED_FILES)

    [resumed] = fake_hub.ranges("textual/model.onnx")
    start = int(resumed.removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= size // 3  # what reached the disk, in whole chunks
    same_files(tmp_path / "staging", files)


def test_a_cancelled_download_carries_on_where_it_stopped(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    size = len(files["visual/model.onnx"])
    cancel = threading.Event()
    fake_hub.pause["visual/model.onnx"] = (size // 2, cancel)  # the server cancels mid-file
    staging = tmp_path / "staging"

    with pytest.raises(DownloadCancelled):
        quick().run(staging, REQUIRED_FILES, cancel=cancel)
    part = staging / "visual" / ("model.onnx" + hub.PART_SUFFIX)
    kept = part.stat().st_size
    assert 0 < kept < size
    assert not (staging / "visual" / "model.onnx").exists()

    quick().run(staging, REQUIRED_FILES)
    assert fake_hub.ranges("visual/model.onnx") == [f"bytes={kept}-"]
    same_files(staging, files)
    assert fake_hub.gets("config.json") == 1  # finished files are not fetched again


def test_a_partial_file_of_older_content_is_not_resumed(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    staging = tmp_path / "staging"
    cancel = threading.Event()
    fake_hub.pause["visual/model.onnx"] = (len(files["visual/model.onnx"]) // 2, cancel)
    with pytest.raises(DownloadCancelled):
        quick().run(staging, REQUIRED_FILES, cancel=cancel)

    # The repository changes before the download is resumed.
    files["visual/model.onnx"] = toy_clip.visual_graph(8192, 224, True).SerializeToString()
    quick().run(staging, REQUIRED_FILES)

    assert fake_hub.ranges("visual/model.onnx") == []
    assert (staging / "visual" / "model.onnx").read_bytes() == files["visual/model.onnx"]


def test_content_that_does_not_match_its_etag_is_refused(fake_hub, big_toy, tmp_path):
    fake_hub.add_model(REPO_ID, big_toy)
    fake_hub.corrupt = {"visual/model.onnx", "config.json"}
    with pytest.raises(DownloadError, match=re.escape("config.json arrived damaged")):
        quick().run(tmp_path / "staging", REQUIRED_FILES)
    assert not (tmp_path / "staging" / "config.json").exists()

    fake_hub.corrupt = {"visual/model.onnx"}
    with pytest.raises(DownloadError, match=re.escape("visual/model.onnx arrived damaged")):
        quick().run(tmp_path / "staging", REQUIRED_FILES)
    assert not list((tmp_path / "staging" / "visual").glob("model.onnx*"))


def test_external_weights_named_by_a_model_are_fetched_too(fake_hub, tmp_path):
    folder = toy_clip.build(tmp_path / "split", dim=64)
    model = onnx.load(str(folder / "visual" / "model.onnx"))
    onnx.save(model, str(folder / "visual" / "model.onnx"), save_as_external_data=True,
              location="model.onnx_data", size_threshold=0)  # fmt: skip
    files = fake_hub.add_model(REPO_ID, folder)
    assert "visual/model.onnx_data" in files

    etags = quick().run(tmp_path / "staging", REQUIRED_FILES)
    assert "visual/model.onnx_data" in etags
    staged = tmp_path / "staging"
    assert (staged / "visual" / "model.onnx_data").read_bytes() == files["visual/model.onnx_data"]
    assert ClipModel(staged).encode_text(["red"]).shape == (1, 64)


def test_hub_errors_say_what_is_wrong(fake_hub, big_toy, tmp_path):
    fake_hub.add_model(REPO_ID, big_toy)
    with pytest.raises(DownloadError, match="not on the Hub"):
        HubDownload("someone/nothing", timeout=5).run(tmp_path / "a", REQUIRED_FILES)
    with pytest.raises(DownloadError, match=re.escape("has no file textual/vocab.txt")):
        quick().run(tmp_path / "b", ["config.json", "textual/vocab.txt"])


def test_an_unreachable_hub_is_reported(tmp_path, monkeypatch):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    download = HubDownload(REPO_ID, endpoint=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(DownloadError, match=r"cannot reach|network"):
        download.run(tmp_path / "staging", REQUIRED_FILES)


def test_offline_mode_refuses_before_any_request(fake_hub, big_toy, tmp_path, monkeypatch):
    fake_hub.add_model(REPO_ID, big_toy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline mode"):
        quick().run(tmp_path / "staging", REQUIRED_FILES)
    assert fake_hub.requests == []


# The store: a download becomes an installed model only when complete and usable.


def entry(**changes: Any) -> CatalogEntry:
    return CatalogEntry(name="ViT-B-32__openai", repo=REPO_ID, **changes)


def test_the_store_installs_a_downloaded_model_atomically(fake_hub, big_toy, tmp_path):
    fake_hub.add_model(REPO_ID, big_toy)
    store = ModelStore(tmp_path / "models")

    folder = store.download(entry(), timeout=5)

    assert folder == store.root / "ViT-B-32__openai"
    assert ClipModel(folder).dim == 8192
    [installed] = store.installed()
    assert installed.repo == REPO_ID and installed.commit == COMMIT
    assert not list(store.staging.iterdir())
    # Installed is cached: asking again costs no request.
    before = len(fake_hub.requests)
    assert store.download(entry()) == folder
    assert len(fake_hub.requests) == before


def test_a_cancelled_download_leaves_no_usable_model(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    cancel = threading.Event()
    fake_hub.pause["textual/model.onnx"] = (len(files["textual/model.onnx"]) // 2, cancel)
    store = ModelStore(tmp_path / "models")

    with pytest.raises(DownloadCancelled):
        store.download(entry(), cancel=cancel, timeout=5)

    assert store.installed() == []
    assert not store.is_installed("ViT-B-32__openai")
    with pytest.raises(ModelError):
        store.find("ViT-B-32__openai")


def test_a_repository_missing_a_file_installs_nothing(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    del files["textual/tokenizer_config.json"]
    store = ModelStore(tmp_path / "models")
    with pytest.raises(DownloadError, match=re.escape("no file textual/tokenizer_config.json")):
        store.download(entry(), timeout=5)
    assert store.installed() == []


def test_a_downloaded_model_that_does_not_load_is_refused(fake_hub, big_toy, tmp_path):
    files = fake_hub.add_model(REPO_ID, big_toy)
    files["visual/model.onnx"] = files["visual/model.onnx"][: len(files["visual/model.onnx"]) // 2]
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError, match=re.escape("visual/model.onnx cannot be loaded")):
        store.download(entry(), timeout=5)
    assert store.installed() == [] and not (store.staging / "ViT-B-32__openai").exists()
