"""Managing models: the catalogue, checking and importing folders, the int8
encoder, and `lookalike models ...` end to end (downloads from a Hub served on
127.0.0.1 by test_hub's server)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import toy_clip
from conftest import make_photo
from lookalike.core.clip import REQUIRED_FILES, ClipModel, ModelError
from lookalike.core.imaging import decode, read_photo_file
from lookalike.core.model_store import (
    CATALOG_FILE,
    ModelStore,
    agreement,
    catalog_entry,
    check_model,
    load_catalog,
    quantize_visual,
)
from test_hub import (
    REPO_ID,
    FakeHub,
    fake_hub_server,  # noqa: F401  (the fake_hub fixture)
)


def test_the_catalogue_ships_sourced_entries_with_a_default():
    catalog = load_catalog()
    assert CATALOG_FILE.name == "catalog.json"
    assert [e.name for e in catalog if e.default] == ["ViT-B-32__openai"]
    for entry in catalog:
        assert entry.repo.startswith("immich-app/")
        assert set(REQUIRED_FILES) <= set(entry.files)
        assert entry.embed_dim and entry.image_size and entry.approx_download_mb
        assert entry.recall and all(url.startswith("https://") for url in entry.source)
    assert catalog_entry("immich-app/ViT-B-32__openai").name == "ViT-B-32__openai"
    assert catalog_entry("someone/Other-Model").repo == "someone/Other-Model"
    with pytest.raises(ModelError, match="no model called"):
        catalog_entry("nonsense")


# Checking folders


def damaged_copy(toy_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(toy_model, folder)
    return folder


def test_a_good_folder_passes_the_check(toy_model):
    check = check_model(toy_model)
    assert check.dim == 16
    assert "image" in check.visual_input and "int32" in check.text_inputs


def test_missing_files_are_all_named(toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    (folder / "textual" / "tokenizer.json").unlink()
    (folder / "visual" / "preprocess_cfg.json").unlink()
    with pytest.raises(ModelError) as error:
        check_model(folder)
    assert "missing visual/preprocess_cfg.json, textual/tokenizer.json" in str(error.value)


def test_a_truncated_network_is_refused(toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    onnx_file = folder / "textual" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:100])
    with pytest.raises(ModelError, match=re.escape("model.onnx cannot be loaded by onnxruntime")):
        check_model(folder)


def swap_visual(folder: Path, shape: list[int | str], out_dim: int) -> None:
    """A visual network taking `shape` and giving `out_dim` numbers per row."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", out_dim])
    axes = [i for i in range(1, len(shape))]
    weights = helper.make_tensor("w", TensorProto.FLOAT, [1, out_dim], [1.0] * out_dim)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=axes, keepdims=0),
        helper.make_node("Unsqueeze", ["pooled", "one"], ["column"]),
        helper.make_node("MatMul", ["column", "w"], ["embedding"]),
    ]
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "odd", [image], [out], [weights, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = toy_clip.IR_VERSION
    onnx.save(model, folder / "visual" / "model.onnx")


def test_wrong_inputs_and_outputs_are_explained(toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    swap_visual(folder, ["batch", 3, 224], out_dim=32)
    with pytest.raises(ModelError) as error:
        check_model(folder)
    message = str(error.value)
    assert "visual/model.onnx should take images of rank 4" in message
    assert "image tensor(float) ['batch', 3, 224]" in message
    assert "the visual model outputs 32 numbers per photo, the text model 16" in message
    assert "config.json says embed_dim 16, but the visual model outputs 32" in message


def test_a_text_network_without_token_ids_is_refused(toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    shutil.copyfile(folder / "visual" / "model.onnx", folder / "textual" / "model.onnx")
    with pytest.raises(ModelError, match="has no integer input for token ids"):
        check_model(folder)


# The int8 encoder


def test_the_int8_encoder_agrees_with_the_float_one(toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    path = quantize_visual(folder)
    assert path == folder / "visual" / "model.int8.onnx"

    spec = ClipModel(folder).input_spec
    pixels = [
        decode(read_photo_file(make_photo(tmp_path / f"{c}.jpg", c)), spec).pixels
        for c in ("red", "green", "blue", "yellow")
    ]
    check = agreement(folder, [np.stack(pixels)])
    assert check.count == 4 and check.min > 0.99

    fast = ClipModel(folder, visual_variant="int8")
    assert fast.key != ClipModel(folder).key  # embeddings of the two are kept apart
    text = fast.encode_text(["red", "green", "blue", "yellow"])
    assert list((text @ fast.encode_images(pixels).T).argmax(axis=1)) == [0, 1, 2, 3]


def test_asking_for_int8_before_quantising_says_how(toy_model):
    with pytest.raises(ModelError, match="lookalike models quantize"):
        ClipModel(toy_model, visual_variant="int8")


# The store


def test_import_copies_only_what_a_model_needs(toy_model, tmp_path):
    source = damaged_copy(toy_model, tmp_path)
    (source / "visual" / "model.armnn").write_bytes(b"not for us")
    store = ModelStore(tmp_path / "models")

    folder = store.import_folder(source, "mine")

    assert folder == store.root / "mine"
    assert not (folder / "visual" / "model.armnn").exists()
    assert ClipModel(folder).encode_text(["red"]).shape == (1, 16)
    assert [m.name for m in store.installed()] == ["mine"]
    with pytest.raises(ModelError, match="installed already"):
        store.import_folder(source, "mine")
    assert store.find("mine") == folder and store.find(str(source)) == source.resolve()


def test_half_finished_folders_are_not_models(toy_model, tmp_path):
    store = ModelStore(tmp_path / "models")
    shutil.copytree(toy_model, store.staging / "pending")
    (store.root / "broken").mkdir()
    (store.root / "broken" / "config.json").write_text("{}")
    assert store.installed() == []


# The command line


def models(cli, *args: str | Path):
    return cli("models", *args)


def test_importing_the_first_model_makes_it_the_librarys(cli, toy_model, tmp_path):
    result = models(cli, "import", toy_model)
    assert result.code == 0, result.err
    assert "now uses toy-dynamic" in result.err

    photos = tmp_path / "photos"
    make_photo(photos / "red.jpg", "red")
    make_photo(photos / "blue.png", "blue")
    assert cli("index", photos).code == 0
    found = cli("search", "--json", "--limit", "1", "red")
    assert found.code == 0, found.err
    assert Path(json.loads(found.out)[0]["path"]).name == "red.jpg"


def test_import_says_exactly_what_is_wrong(cli, toy_model, tmp_path):
    folder = damaged_copy(toy_model, tmp_path)
    (folder / "textual" / "tokenizer_config.json").unlink()
    result = models(cli, "import", folder)
    assert result.code == 1
    assert "missing textual/tokenizer_config.json" in result.err

    shutil.copyfile(toy_model / "textual" / "tokenizer_config.json",
                    folder / "textual" / "tokenizer_config.json")  # fmt: skip
    swap_visual(folder, ["batch", 3, 224, 224], out_dim=8)
    result = models(cli, "import", folder)
    assert result.code == 1
    assert "the visual model outputs 8 numbers per photo, the text model 16" in result.err
    assert "config.json says embed_dim 16, but the visual model outputs 8" in result.err
    assert json.loads(models(cli, "list", "--json").out)["installed"] == []


def test_list_shows_the_catalogue_and_the_installed_models(cli, toy_model):
    assert models(cli, "import", toy_model, "--name", "first").code == 0
    assert models(cli, "import", toy_model, "--name", "second").code == 0

    report = json.loads(models(cli, "list", "--json").out)
    assert report["active"]["name"] == "first"
    assert [(m["name"], m["active"]) for m in report["installed"]] == [
        ("first", True), ("second", False),
    ]  # fmt: skip
    assert all(m["bytes"] > 1000 for m in report["installed"])
    assert [e["name"] for e in report["catalog"]] == [e.name for e in load_catalog()]
    assert report["catalog"][0]["recall"]["en"] == pytest.approx(59.37)

    text = models(cli, "list").out
    assert "* first" in text and "  second" in text
    assert "ViT-B-16-SigLIP2__webli" in text and "recall 75.2 %" in text


def test_use_takes_an_installed_name_or_a_folder(cli, toy_model, fixed_batch_model):
    assert models(cli, "import", toy_model, "--name", "one").code == 0
    result = models(cli, "use", fixed_batch_model)
    assert result.code == 0 and "toy-fixed" in result.out
    assert json.loads(models(cli, "list", "--json").out)["active"]["name"] == "toy-fixed"

    assert models(cli, "use", "one").code == 0
    assert json.loads(models(cli, "list", "--json").out)["active"]["name"] == "one"
    missing = models(cli, "use", "nothing-like-it")
    assert missing.code == 1 and "installed: one" in missing.err


def test_quantize_then_use_int8_for_indexing(cli, toy_model, tmp_path):
    assert models(cli, "import", toy_model, "--name", "toy").code == 0
    assert models(cli, "use", "toy", "--int8").code == 1  # not made yet

    result = models(cli, "quantize", "toy")
    assert result.code == 0, result.err
    assert "mean 0.9" in result.err and "model.int8.onnx" in result.err
    assert models(cli, "use", "toy", "--int8").code == 0
    report = json.loads(models(cli, "list", "--json").out)
    assert report["active"]["precision"] == "int8" and report["installed"][0]["int8"]

    make_photo(tmp_path / "photos" / "green.jpg", "green")
    make_photo(tmp_path / "photos" / "purple.jpg", "purple")
    assert cli("index", tmp_path / "photos").code == 0
    found = json.loads(cli("search", "--json", "purple").out)
    assert Path(found[0]["path"]).name == "purple.jpg"


def test_download_installs_the_model_and_indexing_needs_no_model_option(
    cli, fake_hub: FakeHub, toy_model, tmp_path
):
    fake_hub.add_model(REPO_ID, toy_model)
    result = models(cli, "download", "ViT-B-32__openai")
    assert result.code == 0, result.err
    assert "Installed ViT-B-32__openai" in result.err and "now uses ViT-B-32__openai" in result.err

    make_photo(tmp_path / "photos" / "orange.jpg", "orange")
    assert cli("index", tmp_path / "photos").code == 0
    assert cli("search", "orange").code == 0

    again = models(cli, "download", "ViT-B-32__openai")
    assert again.code == 0 and "installed already" in again.err
    installed = json.loads(models(cli, "list", "--json").out)["installed"]
    assert [(m["name"], m["repo"]) for m in installed] == [("ViT-B-32__openai", REPO_ID)]


def test_a_failed_download_says_why_and_installs_nothing(cli, fake_hub: FakeHub, toy_model):
    files = fake_hub.add_model(REPO_ID, toy_model)
    del files["textual/model.onnx"]
    result = models(cli, "download", "ViT-B-32__openai")
    assert result.code == 1
    assert "has no file textual/model.onnx" in result.err
    report = json.loads(models(cli, "list", "--json").out)
    assert report["installed"] == [] and report["active"] is None


def test_offline_mode_is_respected_by_the_command(cli, fake_hub: FakeHub, toy_model, monkeypatch):
    fake_hub.add_model(REPO_ID, toy_model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = models(cli, "download", "ViT-B-32__openai")
    assert result.code == 1 and "offline mode is on" in result.err
    assert fake_hub.requests == []


def test_a_toy_model_built_with_other_sizes_still_passes(tmp_path):
    folder = toy_clip.build(tmp_path / "wide", dim=48, size=96, fixed_batch=True)
    assert check_model(folder).dim == 48
