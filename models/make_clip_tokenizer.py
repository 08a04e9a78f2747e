"""Derive a `tokenizer.json` for the CLIP byte-level BPE from its merge list.

CLIP's tokenizer ships as `bpe_simple_vocab_16e6.txt.gz` (MIT licence, inside the
`open-clip-torch` wheel). The `tokenizers` library wants one JSON file instead,
so this rebuilds the vocabulary the way CLIP numbers it: the 256 byte symbols,
the same symbols as word endings, one entry per merge, then the two specials.

    pip download --no-deps -d /tmp/oc open-clip-torch
    unzip -p /tmp/oc/open_clip_torch-*.whl open_clip/bpe_simple_vocab_16e6.txt.gz > bpe.txt.gz
    python models/make_clip_tokenizer.py bpe.txt.gz tests/data/clip-tokenizer
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

START, END = "<|startoftext|>", "<|endoftext|>"
MERGE_COUNT = 49152 - 256 - 2  # CLIP keeps this many merges of the file's list
CONTEXT_LENGTH = 77

# CLIP splits words the way its original regex does: contractions, runs of
# letters, single digits, and runs of other symbols; white space is dropped.
WORD_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def byte_symbols() -> list[str]:
    """The printable stand-in for each byte, in the order CLIP numbers them."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + shifted)
            shifted += 1
    return [symbols[b] for b in printable] + [symbols[b] for b in range(256) if b not in printable]


def build(bpe_path: Path) -> Tokenizer:
    with gzip.open(bpe_path, "rt", encoding="utf-8") as stream:
        lines = stream.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]

    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += [START, END]
    vocab = {token: i for i, token in enumerate(tokens)}

    tokenizer = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=merges,
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            fuse_unk=False,
            unk_token=END,
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(
        (END, vocab[END]), (START, vocab[START]), trim_offsets=False, add_prefix_space=False
    )
    tokenizer.add_special_tokens([START, END])
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bpe", type=Path, help="bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument(
        "out", type=Path, help="folder for tokenizer.json and tokenizer_config.json"
    )
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    build(args.bpe).save(str(args.out / "tokenizer.json"))
    config = {
        "bos_token": START,
        "eos_token": END,
        "pad_token": END,
        "unk_token": END,
        "model_max_length": CONTEXT_LENGTH,
    }
    (args.out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


if __name__ == "__main__":
    main()
