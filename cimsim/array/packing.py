"""Tile packing: the weight blocks of small matrices share a physical tile.

A matrix is split into blocks of at most ``rows`` inputs and as many outputs as a tile's
columns hold (:class:`cimsim.tile.matrix.AnalogMatrix`); a small layer's block fills a few
percent of a 256×256 tile. :func:`pack_blocks` places blocks of any layers on common physical
tiles, **stacked along the word lines**: blocks sharing a tile occupy disjoint rows and start
at column 0, sharing the tile's bit lines, column periphery and ADCs.

Why rows and not columns: when one block is read its rows are driven and the other blocks'
rows are held at 0 V, so no cell of another block conducts and the bit lines carry only the
block's own currents (its result is the one it has on a tile of its own). Blocks side by side
on the same rows would be driven together, and their cells would draw read current for
nothing. The price of sharing is time: blocks on one tile share its ADCs, so they are read
one after another (:meth:`Floorplan.serialisation`, and a tile hosting several layers is one
pipeline stage for all of them).

The placement is first-fit decreasing on the rows (blocks in order of decreasing height, each
into the first tile with enough free rows; Johnson et al. 1974 bound it by 11/9 of the optimum
number of bins plus a constant). Each block's array physics is simulated as on a tile of its
own, which is exact without wire resistance (the default); with wire resistance the block's IR
drop is that of its rows at the tile origin, not at its packed position.

References
----------
.. [1] D. S. Johnson, A. Demers, J. D. Ullman, M. R. Garey, R. L. Graham, "Worst-case
   performance bounds for simple one-dimensional packing algorithms", SIAM J. Comput. 3(4),
   299–325 (1974), doi:10.1137/0203025.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from device_models._checks import check_bool, check_int, fail

__all__ = ["Block", "Floorplan", "pack_blocks"]


@dataclasses.dataclass(frozen=True)
class Block:
    """One weight block: ``rows`` word lines × ``cols`` physical bit lines of layer ``layer``.

    ``matrix`` and ``index`` name the block within its layer (matrix of a convolution group,
    tile of that matrix).
    """

    layer: str
    matrix: int
    index: int
    rows: int
    cols: int


@dataclasses.dataclass(frozen=True)
class Floorplan:
    """Physical tiles of a chip and where each :class:`Block` sits.

    Attributes
    ----------
    rows, cols : int
        Tile geometry [-].
    blocks : tuple of Block
    tile_of : tuple of int
        Physical tile of each block [-].
    row0 : tuple of int
        First word line of each block on its tile [-].
    """

    rows: int
    cols: int
    blocks: tuple[Block, ...]
    tile_of: tuple[int, ...]
    row0: tuple[int, ...]

    @property
    def n_tiles(self) -> int:
        """Physical tiles of the chip [-]."""
        return max(self.tile_of) + 1 if self.tile_of else 0

    @property
    def utilisation(self) -> float:
        """Cells holding weights (or references) over all cells of the physical tiles [-]."""
        if not self.blocks:
            return float("nan")
        used = sum(b.rows * b.cols for b in self.blocks)
        return used / (self.n_tiles * self.rows * self.cols)

    def layers(self) -> list[str]:
        """Layers with blocks, in order of first appearance."""
        return list(dict.fromkeys(b.layer for b in self.blocks))

    def tiles_of(self, layer: str) -> list[int]:
        """Physical tiles holding blocks of ``layer``, ascending."""
        return sorted({t for b, t in zip(self.blocks, self.tile_of, strict=True)
                       if b.layer == layer})

    def share(self, layer: str) -> float:
        """Tile-equivalents of ``layer``: on each of its tiles, its share of the used cells [-].

        The shares of all layers add up to :attr:`n_tiles` (area is attributed by use).
        """
        used: dict[int, int] = {}
        mine: dict[int, int] = {}
        for b, t in zip(self.blocks, self.tile_of, strict=True):
            used[t] = used.get(t, 0) + b.rows * b.cols
            if b.layer == layer:
                mine[t] = mine.get(t, 0) + b.rows * b.cols
        return float(sum(mine[t] / used[t] for t in mine))

    def serialisation(self, layer: str) -> int:
        """Most blocks of ``layer`` on one physical tile [-]: they are read one after another
        (they share the tile's ADCs), so the layer's array time is this many times a block's."""
        per: dict[int, int] = {}
        for b, t in zip(self.blocks, self.tile_of, strict=True):
            if b.layer == layer:
                per[t] = per.get(t, 0) + 1
        return max(per.values()) if per else 0

    def layer_utilisation(self, layer: str) -> float:
        """Cells of ``layer``'s blocks over the cells of the physical tiles it occupies [-]."""
        tiles = self.tiles_of(layer)
        if not tiles:
            return float("nan")
        mine = sum(b.rows * b.cols for b in self.blocks if b.layer == layer)
        return mine / (len(tiles) * self.rows * self.cols)

    def to_dict(self) -> dict:
        """Plain dict (JSON-able): geometry and one entry per block."""
        return {"rows": self.rows, "cols": self.cols, "n_tiles": self.n_tiles,
                "blocks": [dict(dataclasses.asdict(b), tile=t, row0=r)
                           for b, t, r in zip(self.blocks, self.tile_of, self.row0,
                                              strict=True)]}


def pack_blocks(blocks: Sequence[Block], rows: int, cols: int, *,
                pack: bool = True) -> Floorplan:
    """Place ``blocks`` on physical tiles of ``rows`` × ``cols`` (module docstring).

    Parameters
    ----------
    blocks : sequence of Block
        Each at most ``rows`` high and ``cols`` wide.
    rows, cols : int
        Tile geometry [-].
    pack : bool
        Share tiles (first-fit decreasing along the word lines); False gives every block a
        tile of its own, in order.

    Returns
    -------
    Floorplan
    """
    caller = "pack_blocks"
    rows = check_int("rows", rows, caller, lo=1)
    cols = check_int("cols", cols, caller, lo=1)
    pack = check_bool("pack", pack, caller)
    try:
        seq = None if isinstance(blocks, (str, bytes)) else tuple(blocks)
    except TypeError:                   # not iterable
        seq = None
    if seq is None:
        fail("blocks", caller, "a sequence of Block", blocks)
    blocks = seq
    for b in blocks:
        if not isinstance(b, Block):
            fail("blocks", caller, "a sequence of Block", b)
        if not (1 <= b.rows <= rows and 1 <= b.cols <= cols):
            fail("blocks", caller, f"blocks of 1..{rows} rows and 1..{cols} columns",
                 f"{b.layer!r} block {b.index} of {b.rows}x{b.cols}")
    tile_of = [0] * len(blocks)
    row0 = [0] * len(blocks)
    if not pack:
        return Floorplan(rows, cols, blocks, tuple(range(len(blocks))), tuple(row0))
    free: list[int] = []   # free rows of each open tile
    order = sorted(range(len(blocks)), key=lambda i: -blocks[i].rows)   # stable
    for i in order:
        h = blocks[i].rows
        t = next((k for k, f in enumerate(free) if f >= h), None)
        if t is None:
            free.append(rows)
            t = len(free) - 1
        tile_of[i], row0[i] = t, rows - free[t]
        free[t] -= h
    # number the tiles in order of their first block (network order)
    first: dict[int, int] = {}
    for t in tile_of:
        first.setdefault(t, len(first))
    return Floorplan(rows, cols, blocks, tuple(first[t] for t in tile_of), tuple(row0))
