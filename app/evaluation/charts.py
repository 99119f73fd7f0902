"""Charts drawn on the server as SVG: bar charts, time series and the choropleth map.

Every chart comes with its table beside it on the page (the figures, for everyone, including
screen-reader users). The SVG carries no inline style nor script (CSP): classes only, defined in
static/css/carreau.css. Bar charts and series are one image each (role="img", <title>, <desc>); the
map is a group whose communes (or EPCIs) are each an image that takes the keyboard focus and
says its name and figure.

The map's outlines come from app/territory/data/communes.geojson and epci.geojson (IGN ADMIN
EXPRESS COG 2018, simplified; see SOURCES.md): projected once per process (equirectangular,
longitudes shrunk by the cosine of the mean latitude, which is accurate to a few per mille over an
area this small), simplified again (Douglas-Peucker at a fraction of a pixel) and kept in memory."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markupsafe import Markup, escape

DATA_DIR = Path(__file__).resolve().parents[1] / "territory" / "data"
MAP_WIDTH = 800.0
TOLERANCE = 0.6  # pixels of the map's viewBox
OUTLINE_SOURCE = "IGN – ADMIN EXPRESS COG 2018 (Licence Ouverte), simplifiés"
POPULATION_SOURCE = ("INSEE, populations légales (population municipale), millésime 2026,"
                     " via @etalab/decoupage-administratif 6.0.0 (Licence Ouverte)")


# --- Bars and series


@dataclass(frozen=True)
class Bar:
    label: str
    participants: int | None  # None when suppressed
    contributions: int | None
    participants_text: str  # as shown: "12", "<5", "s"
    contributions_text: str
    tick: str = ""  # a short label under a time series' axis (default: the label)


def _attr(value: object) -> str:
    return str(escape(str(value)))


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _shorten(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _frame(chart_id: str, title: str, desc: str, width: float, height: float, body: list[str],
           kind: str) -> Markup:
    return Markup(
        f'<svg class="cr-graph cr-graph--{kind}" id="{_attr(chart_id)}" viewBox="0 0 {_fmt(width)} {_fmt(height)}"'
        f' role="img" aria-labelledby="{_attr(chart_id)}-title {_attr(chart_id)}-desc" focusable="false"'
        f' xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{_attr(chart_id)}-title">{_attr(title)}</title>'
        f'<desc id="{_attr(chart_id)}-desc">{_attr(desc)}</desc>'
        + "".join(body) + "</svg>"
    )


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, threshold: int) -> Markup:
    """Horizontal bars, two per row: participants (thick) and contributions (thin). A suppressed
    count is drawn as a dashed outline as long as the threshold, never as its true length."""
    label_width, bar_left, bar_width, row = 300.0, 310.0, 440.0, 40.0
    width = bar_left + bar_width + 90
    height = max(row * len(bars), row) + 10
    top = max([b.contributions or 0 for b in bars] + [b.participants or 0 for b in bars] + [threshold])
    scale = bar_width / top
    body = []
    for index, bar in enumerate(bars):
        y = 5 + index * row
        body.append(f'<text class="cr-graph__label" x="{_fmt(label_width)}" y="{_fmt(y + 20)}"'
                    f' text-anchor="end">{_attr(_shorten(bar.label, 30))}</text>')
        for value, text, dy, thickness, kind in (
            (bar.participants, bar.participants_text, 3.0, 18.0, "participants"),
            (bar.contributions, bar.contributions_text, 23.0, 10.0, "contributions"),
        ):
            if value is None:
                length = threshold * scale if text.startswith("<") else 0
                if length:
                    body.append(f'<rect class="cr-graph__bar cr-graph__bar--suppressed" x="{_fmt(bar_left)}"'
                                f' y="{_fmt(y + dy)}" width="{_fmt(length)}" height="{_fmt(thickness)}"/>')
            else:
                length = value * scale
                body.append(f'<rect class="cr-graph__bar cr-graph__bar--{kind}" x="{_fmt(bar_left)}"'
                            f' y="{_fmt(y + dy)}" width="{_fmt(length)}" height="{_fmt(thickness)}"/>')
            body.append(f'<text class="cr-graph__value" x="{_fmt(bar_left + length + 6)}"'
                        f' y="{_fmt(y + dy + thickness - 1)}">{_attr(text)}</text>')
    return _frame(chart_id, title, desc, width, height, body, "bars")


def time_series(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *, threshold: int,
                tick_every: int = 7) -> Markup:
    """Columns over time: participants (wide) and contributions (narrow, in front), one date every
    `tick_every` columns under the axis."""
    left, plot_width, plot_height, top_pad = 60.0, 700.0, 300.0, 12.0
    width, height = left + plot_width + 10, top_pad + plot_height + 40
    top = max([b.contributions or 0 for b in bars] + [b.participants or 0 for b in bars] + [threshold])
    step = plot_width / max(len(bars), 1)
    base = top_pad + plot_height
    body = [
        f'<line class="cr-graph__axis" x1="{_fmt(left)}" y1="{_fmt(base)}" x2="{_fmt(left + plot_width)}"'
        f' y2="{_fmt(base)}"/>',
        f'<line class="cr-graph__axis" x1="{_fmt(left)}" y1="{_fmt(top_pad)}" x2="{_fmt(left)}" y2="{_fmt(base)}"/>',
        f'<text class="cr-graph__value" x="{_fmt(left - 6)}" y="{_fmt(top_pad + 10)}" text-anchor="end">{top}</text>',
        f'<text class="cr-graph__value" x="{_fmt(left - 6)}" y="{_fmt(base)}" text-anchor="end">0</text>',
    ]
    for index, bar in enumerate(bars):
        x = left + index * step
        for value, text, inset, kind in ((bar.participants, bar.participants_text, 0.1, "participants"),
                                         (bar.contributions, bar.contributions_text, 0.35, "contributions")):
            w = max(step * (1 - 2 * inset), 0.5)
            if value is None:
                if not text.startswith("<"):
                    continue
                h = threshold / top * plot_height
                css = "cr-graph__bar cr-graph__bar--suppressed"
            else:
                h = value / top * plot_height
                css = f"cr-graph__bar cr-graph__bar--{kind}"
            if h > 0:
                body.append(f'<rect class="{css}" x="{_fmt(x + step * inset)}" y="{_fmt(base - h)}"'
                            f' width="{_fmt(w)}" height="{_fmt(h)}"/>')
        if index % tick_every == 0:
            body.append(f'<text class="cr-graph__tick" x="{_fmt(x + step / 2)}" y="{_fmt(base + 18)}"'
                        f' text-anchor="middle">{_attr(bar.tick or bar.label)}</text>')
    return _frame(chart_id, title, desc, width, height, body, "series")


# --- The map


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    parent: str | None  # a commune's EPCI
    path: str  # SVG path data in the map's viewBox


@dataclass(frozen=True)
class Outlines:
    width: float
    height: float
    communes: dict[str, Outline]
    epcis: dict[str, Outline]


def _simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on one ring (iterative, keeps the first and last points)."""
    if len(points) < 4:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        start, end = stack.pop()
        (x1, y1), (x2, y2) = points[start], points[end]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        farthest, distance = -1, tolerance
        for i in range(start + 1, end):
            px, py = points[i]
            d = abs(dy * (px - x1) - dx * (py - y1)) / norm if norm else math.hypot(px - x1, py - y1)
            if d > distance:
                farthest, distance = i, d
        if farthest != -1:
            keep[farthest] = True
            stack += [(start, farthest), (farthest, end)]
    kept = [p for p, k in zip(points, keep, strict=True) if k]
    return kept if len(kept) >= 4 else [*points[:: max(len(points) // 4, 1)], points[-1]]


def _rings(geometry: dict) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


@cache
def outlines() -> Outlines:
    """The projected outlines of the communes and EPCIs (read and projected once per process)."""
    communes = json.loads((DATA_DIR / "communes.geojson").read_text(encoding="utf-8"))["features"]
    epcis = json.loads((DATA_DIR / "epci.geojson").read_text(encoding="utf-8"))["features"]
    points = [p for f in communes for ring in _rings(f["geometry"]) for p in ring]
    min_lon, max_lon = min(p[0] for p in points), max(p[0] for p in points)
    min_lat, max_lat = min(p[1] for p in points), max(p[1] for p in points)
    shrink = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = MAP_WIDTH / ((max_lon - min_lon) * shrink)
    height = (max_lat - min_lat) * scale

    def path(geometry: dict) -> str:
        parts = []
        for ring in _rings(geometry):
            projected = [((lon - min_lon) * shrink * scale, (max_lat - lat) * scale) for lon, lat in ring]
            simplified = _simplify(projected, TOLERANCE)
            coords = []
            previous = None
            for x, y in simplified:
                point = f"{x:.1f},{y:.1f}"
                if point != previous:
                    coords.append(point)
                previous = point
            parts.append("M" + " ".join(coords) + "Z")
        return "".join(parts)

    commune_outlines = {
        f["properties"]["insee_code"]: Outline(f["properties"]["insee_code"], f["properties"]["name"],
                                               f["properties"]["epci_siren"], path(f["geometry"]))
        for f in communes
    }
    epci_outlines = {f["properties"]["siren"]: Outline(f["properties"]["siren"], f["properties"]["name"], None,
                                                       path(f["geometry"])) for f in epcis}
    # The other EPCIs with communes in the basin: only those communes, drawn together.
    for outline in commune_outlines.values():
        if outline.parent and outline.parent not in {f["properties"]["siren"] for f in epcis}:
            known = epci_outlines.get(outline.parent)
            epci_outlines[outline.parent] = Outline(outline.parent, "", None,
                                                    (known.path if known else "") + outline.path)
    return Outlines(width=MAP_WIDTH, height=round(height, 1), communes=commune_outlines, epcis=epci_outlines)


@dataclass(frozen=True)
class MapClass:
    css: str  # cr-map__class--1 … --4, --small, --secret
    label: str


@dataclass(frozen=True)
class Area:
    code: str
    css: str
    label: str  # "Liévin : 3,2 participants pour 1 000 habitants (12 participants)"


def quantile_breaks(values: Sequence[float], classes: int = 4) -> list[float]:
    """Upper bounds of `classes` quantile classes of `values` (fewer when values repeat)."""
    ordered = sorted(values)
    if not ordered:
        return []
    breaks = []
    for k in range(1, classes + 1):
        index = min(math.ceil(k * len(ordered) / classes) - 1, len(ordered) - 1)
        value = ordered[index]
        if not breaks or value > breaks[-1]:
            breaks.append(value)
    return breaks


def class_of(value: float, breaks: Sequence[float]) -> int:
    for index, upper in enumerate(breaks):
        if value <= upper:
            return index + 1
    return len(breaks)


def choropleth(map_id: str, title: str, desc: str, areas: Sequence[Area], *, level: str) -> Markup:
    """The map: every area of `level` (communes or epcis) drawn with its class and focusable, the
    others of the outline file (outside the figures shown) drawn as background."""
    shapes = outlines()
    layer = shapes.communes if level == "communes" else shapes.epcis
    by_code = {area.code: area for area in areas}
    body = [f'<title id="{_attr(map_id)}-title">{_attr(title)}</title>',
            f'<desc id="{_attr(map_id)}-desc">{_attr(desc)}</desc>',
            '<g class="cr-map__background" aria-hidden="true">']
    body += [f'<path class="cr-map__outside" d="{o.path}"/>' for code, o in layer.items() if code not in by_code]
    body.append("</g><g>")
    for code, outline in layer.items():
        area = by_code.get(code)
        if area is None:
            continue
        body.append(
            f'<path class="cr-map__area {_attr(area.css)}" d="{outline.path}" tabindex="0" role="img"'
            f' aria-label="{_attr(area.label)}"><title>{_attr(area.label)}</title></path>'
        )
    body.append("</g>")
    return Markup(
        f'<svg class="cr-map" id="{_attr(map_id)}" viewBox="0 0 {_fmt(shapes.width)} {_fmt(shapes.height)}"'
        f' role="group" aria-labelledby="{_attr(map_id)}-title {_attr(map_id)}-desc"'
        f' xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )
