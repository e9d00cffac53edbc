"""The real training/validation corpus: fetched from package registries into a cache dir.

`corpus` (manifest + file lists, used by training/evaluation) is light; `fetch` downloads.
"""

from .corpus import Kind, Split, corpus_dir, load_manifest, photos, videos

__all__ = ["Kind", "Split", "corpus_dir", "load_manifest", "photos", "videos"]
