"""One sweep point's configuration (:class:`PointConfig`) and the field paths it accepts.

A field path is a dotted path into :class:`~cimsim.hardware.HardwareConfig` (``"t_s"``,
``"tile.adc_bits"``), a card value (``"card.<field>"`` for the device card,
``"adc_card.<field>"``, ...) or a job option (``"options.<name>"``); see :mod:`cimsim.study.sweep`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from device_models import cards as _cards
from device_models.errors import ConfigError, UnknownNameError

from ..config import Config
from ..hardware import CARD_KINDS, HardwareConfig

__all__ = ["CARD_FIELDS", "PointConfig"]


#: Card namespaces of field paths → the HardwareConfig field holding that card.
CARD_FIELDS = {"card": "device_card"} | {f: f for f in CARD_KINDS}


@dataclasses.dataclass(frozen=True)
class PointConfig:
    """The full configuration of one sweep point, as passed to a job.

    Attributes
    ----------
    job : str
        Job reference.
    index : int
        Point index (its key in the store).
    hardware : HardwareConfig
        The chip of this point (its ``seed`` is the point's seed); a card field with values
        replaced for this point holds the replaced :class:`~device_models.cards.Card` itself.
    options : Config or dict
        The job's options (an instance of the job's options class).
    card_overrides : dict[str, dict[str, Any]]
        HardwareConfig card field (``"device_card"``...) → card values replaced for this point
        (a summary; the cards in :attr:`hardware` carry them).
    """

    job: str
    index: int
    hardware: HardwareConfig
    options: Any
    card_overrides: Mapping[str, Mapping[str, Any]]

    @property
    def seed(self) -> int:
        """Seed of this point's random streams (``hardware.seed``)."""
        return self.hardware.seed

    def card(self, field: str = "device_card") -> _cards.Card:
        """The card of ``hardware.<field>`` (``"card"`` is ``"device_card"``), with this point's
        replaced values."""
        field = CARD_FIELDS.get(field, field)
        if field not in CARD_FIELDS.values():
            raise UnknownNameError(f"The 'field' parameter of PointConfig.card must be one of "
                                   f"{sorted(CARD_FIELDS)}. Got {field!r}.")
        return self.hardware.card(field)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored for every point)."""
        opts = self.options.to_dict() if isinstance(self.options, Config) else dict(self.options)
        return {
            "job": self.job,
            "index": self.index,
            "hardware": self.hardware.to_dict(),
            "options": opts,
            "card_overrides": {k: dict(v) for k, v in self.card_overrides.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointConfig:
        """Rebuild from :meth:`to_dict` (validates hardware and options)."""
        from .jobs import get_job  # the registry imports this module

        job = get_job(data["job"])
        opts = data.get("options", {})
        options = job.options.from_dict(opts) if job.options is not None else dict(opts)
        return cls(
            job=data["job"],
            index=int(data["index"]),
            hardware=HardwareConfig.from_dict(data["hardware"]),
            options=options,
            card_overrides={k: dict(v) for k, v in data.get("card_overrides", {}).items()},
        )


def _config_field_type(cls: type[Config], name: str) -> Any:
    return typing.get_type_hints(cls).get(name)


def _check_hw_path(path: str) -> None:
    """ConfigError naming ``path`` unless it is a field path of HardwareConfig."""
    cls: Any = HardwareConfig
    parts = path.split(".")
    for k, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(cls)]
        if part not in names:
            where = ".".join(parts[:k]) or "HardwareConfig"
            raise ConfigError(
                f"Unknown field {path!r}: {where!r} has no field {part!r}. Fields: {names}; or "
                f"use 'card.<field>', 'adc_card.<field>', 'options.<name>'."
            )
        hint = _config_field_type(cls, part)
        if k < len(parts) - 1:
            if not (isinstance(hint, type) and issubclass(hint, Config)):
                raise ConfigError(f"Unknown field {path!r}: {part!r} has no sub-fields.")
            cls = hint


def _set_path(tree: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value
