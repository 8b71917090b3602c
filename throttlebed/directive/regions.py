"""The regional objects of the CMS-TN: one per first-level administrative unit (20 in all).

Also their numbering on the network: the core/gateway switch has dpid 1; the regional switch of
region ``KZ-NN`` has dpid ``0x10NN`` with NN read as hex digits (KZ-75 -> 0x1075, KZ-10 -> 0x1010).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from throttlebed.errors import InputError

REGIONS_CSV = "kz_regions.csv"


@dataclass(frozen=True)
class Region:
    """A regional object: ISO 3166-2 code, names in three languages, population."""

    code: str
    name_en: str
    name_kk: str
    name_ru: str
    kind: str  # "region" or "city" (of republican significance)
    center: str
    population: int
    population_year: int

    def name(self, lang: str) -> str:
        """The region's name in ``lang`` (kk, ru or en)."""
        try:
            return {"en": self.name_en, "kk": self.name_kk, "ru": self.name_ru}[lang]
        except KeyError:
            raise InputError(f"unknown language {lang!r} (expected kk, ru or en)") from None


@cache
def all_regions() -> tuple[Region, ...]:
    """The 20 regions shipped with the package, in the order of the table (by ISO code)."""
    text = resources.files("throttlebed.data").joinpath(REGIONS_CSV).read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        Region(
            code=r["iso_code"],
            name_en=r["name_en"],
            name_kk=r["name_kk"],
            name_ru=r["name_ru"],
            kind=r["kind"],
            center=r["capital_or_center"],
            population=int(r["population"]),
            population_year=int(r["population_year"]),
        )
        for r in rows
    )


@cache
def _by_code() -> dict[str, Region]:
    return {r.code: r for r in all_regions()}


def region_codes() -> tuple[str, ...]:
    """ISO codes of all regions, sorted."""
    return tuple(sorted(_by_code()))


def get_region(code: str) -> Region:
    """The region with ISO code ``code`` (e.g. ``KZ-75``); an unknown code is an InputError."""
    try:
        return _by_code()[code]
    except KeyError:
        raise InputError(f"unknown region {code!r} (expected an ISO 3166-2 code such as KZ-75)") from None


def region_number(code: str) -> int:
    """The two digits of a region's ISO code as a number (KZ-75 -> 75); InputError if unknown."""
    return int(get_region(code).code.removeprefix("KZ-"))


def is_region(code: str) -> bool:
    """Whether ``code`` names one of the 20 regions."""
    return code in _by_code()


CORE_DPID = 1


def region_dpid(code: str) -> int:
    """The scheme's dpid of the regional switch of ``code`` (KZ-75 -> 0x1075)."""
    return 0x1000 + int(f"{region_number(code):02d}", 16)


def dpid_region(dpid: int) -> str | None:
    """The region whose regional switch has ``dpid`` under the scheme, None for others (core)."""
    if not 0x1000 <= dpid <= 0x10FF:
        return None
    code = f"KZ-{dpid - 0x1000:02x}"
    return code if is_region(code) else None
