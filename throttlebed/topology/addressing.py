"""The addressing plan of the emulated CMS-TN: platform, other services and users per region.

- platform servers: inside the platform prefix (default ``203.0.113.0/24``, TEST-NET-3);
- other (non-platform) services: another prefix (default ``198.51.100.0/24``, TEST-NET-2);
- users of region ``KZ-NN``: ``10.NN.0.0/16`` (NN as decimal digits: KZ-75 -> 10.75.0.0/16).

These addresses live only inside the namespaces the testbed makes. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from throttlebed.directive.regions import is_region, region_number
from throttlebed.errors import InputError

DEFAULT_PLATFORM_PREFIX = "203.0.113.0/24"
DEFAULT_OTHER_PREFIX = "198.51.100.0/24"
USER_SUPERNET = IPv4Network("10.0.0.0/8")
_HOSTS_PER_USER_NET = 2**16 - 2


def user_network(code: str) -> IPv4Network:
    """The user address range of a region: ``10.NN.0.0/16``."""
    return IPv4Network(f"10.{region_number(code)}.0.0/16")


def nth_host(net: IPv4Network, index: int) -> IPv4Address:
    """The ``index``-th (0-based) usable address of ``net`` (skips the network address)."""
    if index < 0 or index >= net.num_addresses - 2:
        raise InputError(f"{net} has no host number {index + 1} (only {net.num_addresses - 2})")
    return net.network_address + 1 + index


def parse_prefix(text: str, where: str) -> IPv4Network:
    """An IPv4 prefix such as ``203.0.113.0/24``; InputError naming ``where`` if it is not one."""
    try:
        return IPv4Network(str(text), strict=True)
    except ValueError as e:
        raise InputError(f"not an IPv4 prefix: {text!r} ({e})", where=where) from None


@dataclass(frozen=True)
class AddressPlan:
    """Prefixes of the platform, the other services, and the users of each region."""

    platform_prefix: IPv4Network
    other_prefix: IPv4Network

    @classmethod
    def make(cls, platform_prefix: str = DEFAULT_PLATFORM_PREFIX,
             other_prefix: str = DEFAULT_OTHER_PREFIX) -> AddressPlan:
        """Validate the prefixes: neither may overlap the other nor the users' 10.0.0.0/8."""
        plat = parse_prefix(platform_prefix, "platform_prefix")
        other = parse_prefix(other_prefix, "other_prefix")
        if plat.overlaps(other):
            raise InputError(f"platform prefix {plat} overlaps the other services' prefix {other}",
                             where="platform_prefix")
        for name, net in (("platform_prefix", plat), ("other_prefix", other)):
            if net.overlaps(USER_SUPERNET):
                raise InputError(f"{net} overlaps the users' range {USER_SUPERNET}", where=name)
            if net.num_addresses < 4:
                raise InputError(f"{net} is too small (need at least a /30)", where=name)
        return cls(plat, other)

    def platform_ip(self, index: int) -> IPv4Address:
        """Address of platform server ``index`` (0-based)."""
        return nth_host(self.platform_prefix, index)

    def other_ip(self, index: int) -> IPv4Address:
        """Address of other-service server ``index`` (0-based)."""
        return nth_host(self.other_prefix, index)

    @staticmethod
    def user_ip(code: str, index: int) -> IPv4Address:
        """Address of user host ``index`` (0-based) of region ``code``."""
        if index >= _HOSTS_PER_USER_NET:
            raise InputError(f"too many user hosts in {code}")
        return nth_host(user_network(code), index)

    def traffic_of(self, ip: str | IPv4Address) -> str:
        """``platform`` or ``other`` for a server address; InputError for anything else."""
        addr = IPv4Address(str(ip))
        if addr in self.platform_prefix:
            return "platform"
        if addr in self.other_prefix:
            return "other"
        raise InputError(f"{addr} is neither a platform nor an other-service address")

    @staticmethod
    def region_of(ip: str | IPv4Address) -> str | None:
        """The region whose user range holds ``ip`` (None if it is not a user address)."""
        addr = IPv4Address(str(ip))
        if addr not in USER_SUPERNET:
            return None
        code = f"KZ-{addr.packed[1]:02d}"
        return code if addr.packed[1] < 100 and is_region(code) else None
