"""`trt-gif2video data list`: the corpus as a rich table."""

from __future__ import annotations

from typing import Optional

from .corpus import Kind, Manifest, PathLike, Split, load_manifest


def totals(manifest: Manifest) -> list[tuple[Kind, Split, int, int, float]]:
    """(kind, split, files, bytes, megapixels of one frame/photo summed) for every pair."""
    rows = []
    for kind in Kind:
        for split in Split:
            es = manifest.select(kind, split)
            rows.append((kind, split, len(es), sum(e.size for e in es), sum(e.width * e.height for e in es) / 1e6))
    return rows


def print_corpus(cache_dir: Optional[PathLike] = None, split: Optional[Split] = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    manifest = load_manifest(cache_dir)
    table = Table(title=escape(f"corpus {manifest.root}"))  # paths and names are text, not markup
    table.add_column("id", no_wrap=True)
    for col in ("kind", "split", "size", "pixels", "fps / frames", "package"):
        table.add_column(col, justify="right" if col in ("size", "pixels") else "left")
    for kind in Kind:
        for e in manifest.select(kind, split):
            motion = f"{e.fps:g} / {e.frames}" if e.kind == Kind.VIDEO else ""
            table.add_row(escape(e.id), kind.value, e.split.value, f"{e.size / 1e6:.2f} MB", f"{e.width}x{e.height}",
                          motion, escape(e.package))
    console = Console()
    console.print(table)
    for kind, sp, n, size, mpix in totals(manifest):
        if split is None or sp == split:
            console.print(f"{kind.folder} {sp.value}: {n} files, {size / 1e6:.1f} MB, {mpix:.1f} MP")
