import pytest
from sqlmodel import Session

from app.core.errors import NotFound
from app.territory import service
from app.territory.service import MAX_PAGE_SIZE, AxisNotFound

BETHUNE_BRUAY = "200072460"
LENS_LIEVIN = "246200364"


def names(page: service.CommunePage) -> list[str]:
    return [commune.name for commune in page.items]


def test_list_axes_in_order(session: Session) -> None:
    axes = service.list_axes(session)
    assert [axis.number for axis in axes] == list(range(1, 17))
    assert axes[0].slug == "logement-cites-minieres"
    assert len({axis.slug for axis in axes}) == 16


def test_get_axis(session: Session) -> None:
    axis = service.get_axis(session, "centralites-urbaines")
    assert axis.number == 2
    assert axis.title == "Renforcer les centralités urbaines"


def test_unknown_axis(session: Session) -> None:
    with pytest.raises(AxisNotFound) as raised:
        service.get_axis(session, "nope")
    assert isinstance(raised.value, NotFound)
    assert raised.value.status_code == 404
    assert raised.value.message == "Cet axe n’existe pas."


def test_list_epcis(session: Session) -> None:
    rows = service.list_epcis(session)
    assert len(rows) == 13
    flags = [row.epci.is_signatory for row in rows]
    assert flags == [True] * 8 + [False] * 5
    counts = {row.epci.siren: row.commune_count for row in rows}
    assert counts[BETHUNE_BRUAY] == 100
    assert counts[LENS_LIEVIN] == 36
    assert sum(row.commune_count for row in rows if row.epci.is_signatory) == 336
    assert sum(row.commune_count for row in rows if not row.epci.is_signatory) == 26
    assert all(row.commune_count > 0 for row in rows)


def test_list_signatories_only(session: Session) -> None:
    rows = service.list_epcis(session, signatories_only=True)
    assert len(rows) == 8
    assert all(row.epci.is_signatory for row in rows)


def test_count_communes(session: Session) -> None:
    assert service.count_communes(session) == 362


@pytest.mark.parametrize("text", ["Lievin", "liévin", "LIEVIN", "  Liévin ", "lie", "62800", "628"])
def test_search_finds_lievin(session: Session, text: str) -> None:
    assert "Liévin" in names(service.search_communes(session, text=text))


def test_search_without_text_lists_every_commune(session: Session) -> None:
    page = service.search_communes(session)
    assert page.total == 362
    assert len(page.items) == 50
    assert (page.limit, page.offset) == (50, 0)


def test_search_folds_ligatures_and_hyphens(session: Session) -> None:
    assert names(service.search_communes(session, text="noeux les mines")) == ["Nœux-les-Mines"]
    assert "Trith-Saint-Léger" in names(service.search_communes(session, text="saint leger"))


def test_search_puts_names_starting_with_the_text_first(session: Session) -> None:
    page = service.search_communes(session, text="lens")
    assert page.total == 5
    assert names(page)[0] == "Lens"
    assert set(names(page)[1:]) == {
        "Courcelles-lès-Lens", "Fouquières-lès-Lens", "Loison-sous-Lens", "Noyelles-sous-Lens",
    }


def test_search_within_an_epci(session: Session) -> None:
    page = service.search_communes(session, epci_siren=LENS_LIEVIN, limit=500)
    assert page.total == 36
    assert {commune.epci_siren for commune in page.items} == {LENS_LIEVIN}
    assert service.search_communes(session, text="lens", epci_siren=LENS_LIEVIN).total == 4
    assert service.search_communes(session, text="Liévin", epci_siren=BETHUNE_BRUAY).total == 0


def test_search_pages(session: Session) -> None:
    everything = names(service.search_communes(session, limit=500))
    assert len(everything) == 362
    first = service.search_communes(session, limit=10)
    second = service.search_communes(session, limit=10, offset=10)
    assert names(first) + names(second) == everything[:20]
    assert second.total == 362


def test_search_clamps_limit_and_offset(session: Session) -> None:
    page = service.search_communes(session, limit=MAX_PAGE_SIZE + 100, offset=-5)
    assert (page.limit, page.offset, len(page.items)) == (MAX_PAGE_SIZE, 0, 362)
    assert service.search_communes(session, limit=0).limit == 1


def test_search_by_full_insee_code(session: Session) -> None:
    # Lens: INSEE code 62498, postal code 62300 (shared with Éleu-dit-Leauwette).
    assert names(service.search_communes(session, text="62498")) == ["Lens"]
    assert set(names(service.search_communes(session, text="62300"))) == {"Lens", "Éleu-dit-Leauwette"}
    assert names(service.search_communes(session, text="59002")) == ["Abscon"]


def test_partial_insee_code_is_not_searched(session: Session) -> None:
    # Abscon (59002), Anhiers (59007)… have INSEE codes beginning with 5900; no postal code does.
    assert service.search_communes(session, text="5900").total == 0
    # 6280 is the beginning of Liévin's postal code (62800), not of its INSEE code (62510).
    assert "Liévin" in names(service.search_communes(session, text="6280"))
    assert "Liévin" not in names(service.search_communes(session, text="6251"))


def test_search_with_nothing_to_find(session: Session) -> None:
    page = service.search_communes(session, text="Paris")
    assert (page.total, page.items) == (0, [])


def test_search_wildcards_are_plain_characters(session: Session) -> None:
    assert service.search_communes(session, text="l_ns").total == 0  # "_" is not "any character"
    assert names(service.search_communes(session, text="lié%")) == names(service.search_communes(session, text="lié"))
