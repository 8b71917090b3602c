"""Which switch is which regional object: datapath ids of the core and regional switches.

The default is the scheme of :mod:`throttlebed.directive.regions` (core dpid 1, region ``KZ-NN``
``0x10NN``). A JSON map file
``{"<dpid as decimal or 0x hex>": "KZ-75", ...}`` overrides the scheme for a user's own switches.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from throttlebed.directive.regions import CORE_DPID, dpid_region, is_region, region_codes, region_dpid
from throttlebed.errors import InputError
from throttlebed.validation import read_json

_DPID_MAX = 2**64 - 1


class RegionMap:
    """dpid <-> region, by the scheme unless a map overrides it."""

    def __init__(self, overrides: Mapping[int, str] | None = None):
        self._by_dpid: dict[int, str] = dict(overrides or {})
        self._by_region: dict[str, int] = {r: d for d, r in self._by_dpid.items()}

    @property
    def overridden(self) -> bool:
        """Whether a map file replaces the scheme."""
        return bool(self._by_dpid)

    def region_of(self, dpid: int) -> str | None:
        """The region of the regional switch ``dpid``, None if it is not a regional switch."""
        if self._by_dpid:
            return self._by_dpid.get(dpid)
        return dpid_region(dpid)

    def dpid_of(self, region: str) -> int | None:
        """The dpid of the regional switch of ``region`` (None if a map file leaves it out)."""
        if self._by_dpid:
            return self._by_region.get(region)
        return region_dpid(region)

    def items(self) -> list[tuple[int, str]]:
        """(dpid, region) pairs: those of the map file, or the scheme's for all 20 regions."""
        if self._by_dpid:
            return sorted(self._by_dpid.items())
        return [(region_dpid(c), c) for c in region_codes()]

    def to_data(self) -> dict[str, str]:
        """The map as JSON-able data, dpids in 0x hex."""
        return {f"{d:#x}": r for d, r in self.items()}


def parse_dpid(text: str, source: str | None = None, where: str | None = None) -> int:
    """A dpid written as decimal or 0x hex."""
    s = str(text).strip().lower()
    try:
        value = int(s, 16) if s.startswith("0x") else int(s, 10)
    except ValueError:
        raise InputError(f"dpid {text!r} is not a decimal or 0x hex number", source=source,
                         where=where) from None
    if not 0 < value <= _DPID_MAX:
        raise InputError(f"dpid {text!r} is out of range 1..2^64-1", source=source, where=where)
    return value


def region_map_from_data(data: object, source: str | None = None) -> RegionMap:
    """Validate ``{"<dpid>": "KZ-NN", ...}`` into a RegionMap."""
    if not isinstance(data, dict) or not data:
        raise InputError('a region map must be a non-empty JSON object {"<dpid>": "KZ-75", ...}',
                         source=source)
    out: dict[int, str] = {}
    seen: dict[str, str] = {}
    for key, region in data.items():
        dpid = parse_dpid(key, source, where=f"{key!r}")
        if not isinstance(region, str) or not is_region(region):
            raise InputError(f"unknown region {region!r} (expected e.g. KZ-75)", source=source,
                             where=f"{key!r}")
        if dpid == CORE_DPID:
            raise InputError("dpid 1 is the core switch, not a regional one", source=source,
                             where=f"{key!r}")
        if dpid in out:
            raise InputError(f"dpid {dpid:#x} given twice", source=source, where=f"{key!r}")
        if region in seen:
            raise InputError(f"region {region} given twice (also at {seen[region]!r})",
                             source=source, where=f"{key!r}")
        out[dpid] = region
        seen[region] = key
    return RegionMap(out)


def load_region_map(path: str | Path | None) -> RegionMap:
    """Read a JSON region map file; None gives the scheme."""
    if path is None:
        return RegionMap()
    return region_map_from_data(read_json(path), source=str(path))
