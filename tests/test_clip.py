"""Loading CLIP-layout model folders and running them with onnxruntime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from tokenizers import Tokenizer

from conftest import REPO, make_photo, photo_pixels
from lookalike.core.clip import (
    ClipModel,
    ModelError,
    check_folder,
    create_session,
    cuda_problem,
    normalise,
)
from lookalike.core.imaging import decode, read_photo_file

TOKENIZER = REPO / "tests" / "data" / "clip-tokenizer" / "tokenizer.json"


def test_the_tokenizer_numbers_words_as_clip_does():
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    assert tokenizer.get_vocab_size() == 49408
    assert tokenizer.encode("a photo of a dog").ids == [49406, 320, 1125, 539, 320, 1929, 49407]
    assert tokenizer.encode("A  Photo of a DOG").ids == tokenizer.encode("a photo of a dog").ids


def test_sessions_are_read_for_input_names_types_and_batch(toy_model, fixed_batch_model):
    dynamic = ClipModel(toy_model)
    fixed = ClipModel(fixed_batch_model)
    assert dynamic.visual_input.fixed_batch is None and dynamic.batch_size > 1
    assert fixed.visual_input.fixed_batch == 1 and fixed.batch_size == 1
    assert dynamic.visual_input.name == "image"
    assert dynamic.input_spec.size == 224 and dynamic.input_spec.pixel_type == "float"
    assert dynamic.provider == "CPU"


def test_both_batch_layouts_give_the_same_unit_embeddings(toy_model, fixed_batch_model, tmp_path):
    pixels = []
    for i, colour in enumerate(("red", "blue", "green")):
        path = tmp_path / f"{colour}.png"
        Image.fromarray(photo_pixels(colour, (120, 90), seed=i)).save(path)
        pixels.append(decode(read_photo_file(path), ClipModel(toy_model).input_spec).pixels)

    dynamic = ClipModel(toy_model).encode_images(pixels)
    fixed = ClipModel(fixed_batch_model).encode_images(pixels)
    np.testing.assert_allclose(dynamic, fixed, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(dynamic, axis=1), 1.0, atol=1e-6)

    text = ClipModel(toy_model).encode_text(["red", "a blue sky", "green"])
    similarity = text @ dynamic.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]


def test_text_embeddings_are_cached(toy_model):
    model = ClipModel(toy_model)
    first = model.encode_text(["red"])
    assert "red" in model._text_cache
    np.testing.assert_array_equal(model.encode_text(["red"]), first)


def test_normalise_leaves_zero_vectors_alone():
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_incomplete_model_folders_say_what_is_missing(toy_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(toy_model, broken)
    (broken / "visual" / "preprocess_cfg.json").unlink()
    (broken / "textual" / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"visual/preprocess_cfg.json, textual/tokenizer.json"):
        check_folder(broken)
    with pytest.raises(ModelError, match="not a folder"):
        ClipModel(tmp_path / "nothing")


def test_a_truncated_onnx_file_is_refused(toy_model, tmp_path):
    broken = tmp_path / "truncated"
    shutil.copytree(toy_model, broken)
    onnx_file = broken / "visual" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:40])
    with pytest.raises(ModelError, match="cannot be loaded"):
        ClipModel(broken).encode_images([np.zeros((3, 224, 224), np.float32)])


def test_an_unreadable_config_is_refused(toy_model, tmp_path):
    broken = tmp_path / "badconfig"
    shutil.copytree(toy_model, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable configuration"):
        ClipModel(broken)


def test_the_model_key_changes_with_the_model(toy_model, tmp_path):
    other = tmp_path / toy_model.name
    shutil.copytree(toy_model, other)
    config = json.loads((other / "config.json").read_text())
    config["embed_dim"] = 16
    config["note"] = "retrained"
    (other / "config.json").write_text(json.dumps(config))
    assert ClipModel(other).key != ClipModel(toy_model).key
    assert ClipModel(toy_model).key == ClipModel(toy_model).key


def test_unavailable_providers_are_skipped_and_failures_noted(toy_model):
    path = toy_model / "visual" / "model.onnx"
    session, choice = create_session(path, threads=1)
    assert choice.provider == "CPUExecutionProvider"
    if cuda_problem() is None or "CUDAExecutionProvider" not in ort.get_available_providers():
        assert choice.dropped == []
    else:  # onnxruntime-gpu on a machine without CUDA
        assert choice.dropped == [f"CUDA cannot start: {cuda_problem()}"]
    assert "CPUExecutionProvider" in ort.get_available_providers()
    assert session.get_inputs()[0].name == "image"


needs_gpu_build_without_cuda = pytest.mark.skipif(
    "CUDAExecutionProvider" not in ort.get_available_providers() or cuda_problem() is None,
    reason="needs onnxruntime-gpu on a machine without CUDA",
)


@needs_gpu_build_without_cuda
def test_missing_cuda_libraries_are_named_and_the_cpu_takes_over(toy_model, capfd):
    assert "cannot open shared object file" in cuda_problem()
    model = ClipModel(toy_model)
    model.encode_text(["red"])
    assert model.provider == "CPU"
    printed = capfd.readouterr()
    assert "onnxruntime" not in printed.err + printed.out  # nothing from onnxruntime itself


@needs_gpu_build_without_cuda
def test_the_command_line_says_why_cuda_was_not_used(toy_model, cli, tmp_path):
    make_photo(tmp_path / "photos" / "red.jpg", "red")
    result = cli("index", tmp_path / "photos", "--model", toy_model)
    assert result.code == 0
    assert "CUDA cannot start: lib" in result.err and "ran on CPU instead" in result.err


@needs_gpu_build_without_cuda
def test_a_cuda_session_that_falls_back_is_noted_quietly(toy_model, monkeypatch, capfd):
    # Skip the library check, so that onnxruntime itself tries CUDA and falls back.
    monkeypatch.setattr("lookalike.core.clip.cuda_problem", lambda: None)
    session, choice = create_session(toy_model / "visual" / "model.onnx", threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert choice.provider == "CPUExecutionProvider"
    assert choice.dropped == [
        "CUDA could not start on this machine (no usable GPU, or its driver is missing)"
    ]
    printed = capfd.readouterr()
    assert "onnxruntime" not in printed.err + printed.out


def test_a_chosen_provider_is_tried_first_then_the_cpu(toy_model):
    from lookalike.core.clip import PROVIDER_ORDER, provider_order

    assert provider_order("auto") == PROVIDER_ORDER
    assert provider_order("CUDA") == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert provider_order("cpu") == ("CPUExecutionProvider",)
    with pytest.raises(ValueError, match="unknown execution provider"):
        provider_order("TPU")
    model = ClipModel(toy_model, providers=provider_order("CUDA"))
    model.encode_text(["red"])
    assert model.provider == "CPU"  # CUDA is not usable on this machine
    assert model.providers["textual"].dropped[0].startswith("CUDA ")
