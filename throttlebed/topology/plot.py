"""A picture of the CMS-TN graph: the core in the middle, regional objects around it, users outside.

Pure layout (``radial_layout``) plus one matplotlib drawing written atomically as PNG or SVG.
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx

from throttlebed.fileio import atomic_write
from throttlebed.topology import graph as tg

COLORS = {"core": "#444444", "region": "#1f77b4", "platform": "#d62728", "service": "#2ca02c",
          "user": "#9ecae1"}
SIZES = {"core": 900, "region": 520, "platform": 420, "service": 420, "user": 70}


def radial_layout(g: nx.Graph) -> dict[str, tuple[float, float]]:
    """Positions: core at (0, 0), regions on a circle of radius 1, users around their region
    at radius 1.45, servers above the core. Deterministic."""
    pos: dict[str, tuple[float, float]] = {tg.CORE: (0.0, 0.0)}
    regions = tg.nodes_of_kind(g, "region")
    n = max(1, len(regions))
    step = 2 * math.pi / n
    for i, sw in enumerate(regions):
        a = math.pi / 2 + step * (i + 0.5)
        pos[sw] = (math.cos(a), math.sin(a))
        users = tg.user_hosts(g, g.nodes[sw]["region"])
        spread = min(step * 0.8, 0.6)
        for j, u in enumerate(users):
            b = a + (j - (len(users) - 1) / 2) * (spread / max(1, len(users) - 1) if len(users) > 1 else 0)
            pos[u] = (1.45 * math.cos(b), 1.45 * math.sin(b))
    servers = tg.nodes_of_kind(g, "platform") + tg.nodes_of_kind(g, "service")
    for k, s in enumerate(servers):
        x = (k - (len(servers) - 1) / 2) * 0.42
        pos[s] = (x, 0.5)
    return pos


def draw_graph(g: nx.Graph, path: str | Path, title: str | None = None) -> Path:
    """Draw the graph to ``path`` (.png or .svg), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = radial_layout(g)
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    try:
        for kind in ("uplink", "server", "access"):
            edges = [(a, b) for a, b, d in g.edges(data=True) if d["kind"] == kind]
            nx.draw_networkx_edges(g, pos, edgelist=edges, ax=ax, width=1.6 if kind != "access" else 0.6,
                                   edge_color="#888888" if kind != "access" else "#c6dbef")
        for kind in tg.KINDS:
            nodes = tg.nodes_of_kind(g, kind)
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=COLORS[kind], node_size=SIZES[kind],
                                   ax=ax, label=f"{kind} ({len(nodes)})")
        labels = {n: d["region"] or "" for n, d in g.nodes(data=True) if d["kind"] == "region"}
        labels[tg.CORE] = "core\ndpid 1"
        for s in tg.nodes_of_kind(g, "platform") + tg.nodes_of_kind(g, "service"):
            labels[s] = f"{g.nodes[s]['kind']}\n{g.nodes[s]['ip']}"
        nx.draw_networkx_labels(g, pos, labels=labels, font_size=6.5, ax=ax)
        ax.set_title(title or f"CMS-TN: {len(tg.nodes_of_kind(g, 'region'))} regional objects, "
                              f"platform {g.graph['platform_prefix']}, other {g.graph['other_prefix']}",
                     fontsize=10)
        ax.legend(loc="lower left", fontsize=8, markerscale=0.6, frameon=False)
        ax.set_axis_off()
        ax.set_aspect("equal")
        suffix = Path(path).suffix.lower().lstrip(".") or "png"
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix, bbox_inches="tight"))
    finally:
        plt.close(fig)
