#!/usr/bin/env python
"""Write the SHA-256 of a model folder's files into its model.yml (export does this itself).

Loading refuses a model whose files differ from the card; run this only for files you trust,
e.g. weights copied in by hand, or to stamp a card written before the card carried hashes.

    .venv/bin/python scripts/stamp_model_card.py weights/fastscnn_spine
"""
import argparse

from surgical_seg.modelcard import stamp_card


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", nargs="+", help="model folder(s) holding model.yml")
    for folder in p.parse_args().model_dir:
        card = stamp_card(folder)
        print(f"stamped {folder}/model.yml: " + ", ".join(f"{k} {v[:12]}" for k, v in card.files_sha256.items()))


if __name__ == "__main__":
    main()
