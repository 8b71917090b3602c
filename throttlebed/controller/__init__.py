"""Enforcement of the directive (Rules item 10): Open vSwitch meters per region and period of the day.

- ``plan``: the pure meter plan (directive + local time -> meters and flows per switch) and diffs;
- ``region_map``: which dpid is which regional object (0x10NN, core = 1);
- ``clock``, ``scheduler``: the emulated local clock and the next period boundary;
- ``stats``, ``metrics``, ``audit``: counters -> measurement rows, Prometheus text, change log;
- ``state``, ``api``: the controller's shared state and its HTTP API;
- ``osken_app``: the only module speaking OpenFlow 1.3 through os-ken; ``launcher``, ``cli``: start it.
"""
