"""Charts drawn on the server: well-formed SVG, accessible (role, title, desc; focusable areas of
the map with their name and figure), no inline style, and the outlines projected once."""

import xml.etree.ElementTree as ET

from app.evaluation import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def bars() -> list[charts.Bar]:
    return [charts.Bar("Axe 1 — Cités & <mines>", 12, 30, "12", "30"),
            charts.Bar("Axe 2", None, None, "<5", "<5"), charts.Bar("Axe 3", None, 40, "s", "40")]


def test_bar_chart_is_an_accessible_image() -> None:
    svg = parse(charts.bar_chart("graphique-axe", "Par axe", "Participants et contributions.", bars(), threshold=5))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "graphique-axe-title graphique-axe-desc"
    assert svg.find(f"{SVG}title").text == "Par axe"
    assert svg.find(f"{SVG}desc").text == "Participants et contributions."
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Axe 1 — Cités & <mines>" in texts  # escaped in the markup, whole once parsed
    assert "<5" in texts
    assert "s" in texts
    # A suppressed count is drawn as long as the threshold, dashed: never its true length.
    suppressed = [r for r in svg.iter(f"{SVG}rect") if "cr-graph__bar--suppressed" in r.get("class")]
    assert len(suppressed) == 2
    assert all(r.get("style") is None for r in svg.iter())


def test_time_series_has_a_column_per_bucket_and_dates_under_the_axis() -> None:
    days = [charts.Bar(f"{n} mars", n, 2 * n, str(n), str(2 * n)) for n in range(1, 15)]
    svg = parse(charts.time_series("graphique-jour", "Par jour", "Deux semaines.", days, threshold=5, tick_every=7))
    assert svg.get("role") == "img"
    columns = [r for r in svg.iter(f"{SVG}rect") if "cr-graph__bar--participants" in r.get("class")]
    assert len(columns) == 14
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "cr-graph__tick"] == ["1 mars", "8 mars"]


def test_outlines_are_projected_once_and_kept_small() -> None:
    first = charts.outlines()
    assert charts.outlines() is first  # cached for the process
    assert len(first.communes) == 362
    assert len(first.epcis) == 13  # the 8 signatories and the 5 others, drawn from their basin communes
    size = sum(len(o.path) for o in first.communes.values())
    assert size < 160_000, size
    assert 0 < first.height < first.width  # the basin is wider than tall
    lievin = first.communes["62510"]
    assert lievin.name == "Liévin"
    assert lievin.parent == "246200364"
    assert lievin.path.startswith("M")
    assert lievin.path.endswith("Z")


def test_choropleth_areas_are_focusable_with_their_name_and_figure() -> None:
    areas = [charts.Area("62510", "cr-map__class--3", "Liévin : 1,25 pour 1 000 habitants (38 participants)"),
             charts.Area("62498", "cr-map__class--small", "Lens : moins de 5 participants")]
    svg = parse(charts.choropleth("carte", "Carte", "Une carte.", areas, level="communes"))
    assert svg.get("role") == "group"
    assert svg.get("aria-labelledby") == "carte-title carte-desc"
    focusable = svg.findall(f".//{SVG}path[@tabindex='0']")
    assert [p.get("aria-label") for p in focusable] == [areas[1].label, areas[0].label]  # in INSEE order
    for path in focusable:
        assert path.get("role") == "img"
        assert path.find(f"{SVG}title").text == path.get("aria-label")
    background = svg.find(f"{SVG}g[@aria-hidden='true']")
    assert len(background.findall(f"{SVG}path")) == 360  # the other communes, not focusable


def test_quantile_classes() -> None:
    assert charts.quantile_breaks([]) == []
    assert charts.quantile_breaks([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == [2.0, 4.0, 6.0, 8.0]
    assert charts.quantile_breaks([1.0, 1.0, 1.0, 3.0]) == [1.0, 3.0]
    breaks = [2.0, 4.0, 6.0, 8.0]
    assert [charts.class_of(v, breaks) for v in (0.5, 2.0, 2.1, 8.0)] == [1, 1, 2, 4]
