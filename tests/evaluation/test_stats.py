"""Participation statistics against the raw data: each breakdown counted by the database agrees with
a count made here, row by row, on SQLite and PostgreSQL; filters; hidden results; erased voters."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.consultations.models import Consultation
from app.evaluation import stats
from app.evaluation.privacy import Mark
from app.evaluation.stats import Filters
from app.proposals.models import Comment
from app.territory.models import Axis, Commune
from app.voting.models import Ballot, SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user

LIEVIN, LENS, DOUAI, HASNON = "62510", "62498", "59178", "59284"
LENS_LIEVIN, DOUAISIS = "246200364", "200044618"


@dataclass
class Contribution:
    person: int | None  # None: an erased voter
    kind: str
    consultation: Consultation
    channel: str
    at: datetime
    anonymous_id: int = 0


@dataclass
class World:
    consultations: dict[str, Consultation]
    people: dict[str, User]
    contributions: list[Contribution]
    axis1: Axis
    axis2: Axis


def _axis(session: Session, number: int) -> Axis:
    return session.exec(select(Axis).where(Axis.number == number)).one()


def _support(session: Session, world: list[Contribution], proposal, consultation, voter: User | None, *,
             channel: str = "online", at: datetime = NOW) -> None:
    vote = SupportVote(proposal_id=proposal.id, consultation_id=consultation.id, voter_id=voter.id if voter else None,
                       channel=channel, cast_at=at)
    session.add(vote)
    session.flush()
    world.append(Contribution(voter.id if voter else None, "support", consultation, channel, at, anonymous_id=vote.id))


@pytest.fixture(name="world")
def world_fixture(session: Session) -> World:
    """Three consultations (two in axis 1, one in axis 2), a fourth hiding its results until the end
    of its vote, residents of four communes and every kind of contribution over a few days."""
    axis1, axis2 = _axis(session, 1), _axis(session, 2)
    a = make_consultation(session, phase="voting", axis_number=1)
    b = make_consultation(session, phase="voting", axis_number=1, voting_method="majority_judgment")
    c = make_consultation(session, phase="results", axis_number=2)
    hidden = make_consultation(session, phase="voting", axis_number=2, results_hidden_until_end=True)
    people = {
        "young_lievin": make_user(session, commune=LIEVIN, birth_year=2010),
        "lievin_1": make_user(session, commune=LIEVIN, birth_year=1990),
        "lievin_2": make_user(session, commune=LIEVIN, birth_year=1960),
        "lens": make_user(session, commune=LENS, birth_year=1985),
        "douai": make_user(session, commune=DOUAI, birth_year=None),
        "hasnon": make_user(session, commune=HASNON, birth_year=2004),
    }
    contributions: list[Contribution] = []
    day = timedelta(days=1)
    # Proposals (one hidden by moderation: not a contribution), comments, supports, ballots.
    pa = make_proposal(session, a, people["lievin_1"], now=NOW - 3 * day)
    contributions.append(Contribution(people["lievin_1"].id, "proposal", a, "online", NOW - 3 * day))
    pa2 = make_proposal(session, a, people["lens"], now=NOW - 2 * day, channel="assisted")
    contributions.append(Contribution(people["lens"].id, "proposal", a, "assisted", NOW - 2 * day))
    make_proposal(session, a, people["douai"], now=NOW - 2 * day, state="hidden")
    pb = make_proposal(session, b, people["lievin_2"], now=NOW - 9 * day)
    contributions.append(Contribution(people["lievin_2"].id, "proposal", b, "online", NOW - 9 * day))
    pc = make_proposal(session, c, people["hasnon"], now=NOW - 20 * day)
    contributions.append(Contribution(people["hasnon"].id, "proposal", c, "online", NOW - 20 * day))
    ph = make_proposal(session, hidden, people["douai"], now=NOW - 8 * day)
    contributions.append(Contribution(people["douai"].id, "proposal", hidden, "online", NOW - 8 * day))
    for author, proposal, consultation, when in ((people["young_lievin"], pa, a, NOW - day),
                                                 (people["douai"], pa, a, NOW - day),
                                                 (people["lens"], pc, c, NOW - 19 * day)):
        session.add(Comment(proposal_id=proposal.id, author_id=author.id, body="Bien.", body_html="<p>Bien.</p>",
                            created_at=when, updated_at=when))
        contributions.append(Contribution(author.id, "comment", consultation, "online", when))
    session.add(Comment(proposal_id=pa.id, author_id=people["lens"].id, body="Spam", body_html="<p>Spam</p>",
                        state="hidden", created_at=NOW, updated_at=NOW))
    for voter in ("young_lievin", "lievin_1", "lievin_2", "lens"):
        _support(session, contributions, pa, a, people[voter], at=NOW - day)
    _support(session, contributions, pa2, a, people["hasnon"], channel="assisted", at=NOW - 2 * day)
    _support(session, contributions, pa2, a, None, at=NOW - 2 * day)  # an erased voter
    _support(session, contributions, pa2, a, None, at=NOW - 2 * day)  # another one (or the same: unknowable)
    for voter in ("lievin_1", "douai"):
        ballot = Ballot(consultation_id=b.id, voter_id=people[voter].id, channel="online", cast_at=NOW - 4 * day,
                        updated_at=NOW - 4 * day)
        session.add(ballot)
        contributions.append(Contribution(people[voter].id, "ballot", b, "online", NOW - 4 * day))
    session.flush()
    # Votes of a consultation hiding its results: counted nowhere before the end of its vote.
    for voter in ("lievin_1", "lens", "hasnon"):
        session.add(SupportVote(proposal_id=ph.id, consultation_id=hidden.id, voter_id=people[voter].id,
                                cast_at=NOW - day))
    assert pb.id
    session.flush()
    return World({"a": a, "b": b, "c": c, "hidden": hidden}, people, contributions, axis1, axis2)


def evaluator(session: Session, **scope: int) -> Principal:
    user = make_user(session)
    accounts.grant_role(session, user, Role.evaluator, now=NOW, **scope)
    session.flush()
    return accounts.load_principal(session, user)


def expected(world: World, session: Session, key, contributions: list[Contribution] | None = None
             ) -> dict[str, tuple[int, int]]:
    """(participants, contributions) by key, counted here in Python."""
    people = {u.id: u for u in world.people.values()}
    communes = {c.insee_code: c for c in session.exec(select(Commune))}
    found: dict[str, tuple[set, int]] = {}
    for item in contributions if contributions is not None else world.contributions:
        person = people.get(item.person)
        k = key(item, person, communes)
        participants, count = found.get(k, (set(), 0))
        participants.add(item.person if item.person is not None else ("anonymous", item.anonymous_id))
        found[k] = (participants, count + 1)
    return {k: (len(v[0]), v[1]) for k, v in found.items()}


def age_key(person: User | None) -> str:
    if person is None or person.birth_year is None:
        return "unknown"
    age = 2027 - person.birth_year
    for key, _label, youngest, oldest in stats.AGE_BRACKETS:
        if key != "unknown" and (youngest is None or age >= youngest) and (oldest is None or age <= oldest):
            return key
    raise AssertionError(age)


def paris_day(moment: datetime) -> str:
    return moment.astimezone(stats.PARIS).date().isoformat()


KEYS = {
    "axis": lambda item, person, communes: str(item.consultation.axis_id),
    "consultation": lambda item, person, communes: str(item.consultation.id),
    "commune": lambda item, person, communes: person.commune_insee if person and person.commune_insee else "",
    "epci": lambda item, person, communes: communes[person.commune_insee].epci_siren
    if person and person.commune_insee else "",
    "age_bracket": lambda item, person, communes: age_key(person),
    "channel": lambda item, person, communes: item.channel,
    "day": lambda item, person, communes: paris_day(item.at),
    "week": lambda item, person, communes: (date.fromisoformat(paris_day(item.at)) - timedelta(
        days=date.fromisoformat(paris_day(item.at)).weekday())).isoformat(),
}


def counted(world: World) -> list[Contribution]:
    """What the statistics count: not the votes of the consultation whose results are hidden."""
    return [c for c in world.contributions if not (c.consultation.id == world.consultations["hidden"].id
                                                   and c.kind in ("support", "ballot"))]


@pytest.mark.parametrize("by", stats.BREAKDOWNS)
def test_every_breakdown_agrees_with_the_raw_data(session: Session, world: World, by: str) -> None:
    found = stats.tables(session, Filters(), [by], now=NOW, threshold=5)
    table = found.tables[by]
    raw = {row.key: (row.participants, row.contributions) for row in table.rows if row.contributions}
    assert raw == expected(world, session, KEYS[by], counted(world))
    contributions = counted(world)
    assert sum(row.contributions for row in table.rows) == len(contributions)
    # Participants: distinct people (each erased vote counts as one).
    assert table.raw_total == (len({c.person if c.person is not None else ("x", c.anonymous_id)
                                    for c in contributions}), len(contributions))
    # Every row is listed, counted or not (zeros are suppressed like any small count).
    if by == "age_bracket":
        assert [row.key for row in table.rows] == [key for key, *_ in stats.AGE_BRACKETS]
    if by == "commune":
        assert len(table.rows) == len(session.exec(select(Commune)).all()) + 1  # and the unknown commune


def test_shown_values_are_the_true_ones_or_suppressed(session: Session, world: World) -> None:
    found = stats.tables(session, Filters(), list(stats.BREAKDOWNS), now=NOW, threshold=2)
    for table in found.tables.values():
        for row in table.rows:
            for mark, true, shown in ((row.participants_mark, row.participants, row.shown_participants),
                                      (row.contributions_mark, row.contributions, row.shown_contributions)):
                if true < 2:
                    assert mark is Mark.primary
                    assert shown == "<2"
                elif mark is Mark.shown:
                    assert shown == true
                else:
                    assert shown == "s"
    assert found.suppressed


def test_filters_axis_consultation_period_epci(session: Session, world: World) -> None:
    contributions = counted(world)
    a = world.consultations["a"]

    def total(filters: Filters) -> tuple[int, int]:
        return stats.tables(session, filters, ["channel"], now=NOW, threshold=5).tables["channel"].raw_total

    def count(items: list[Contribution]) -> tuple[int, int]:
        return len({c.person if c.person is not None else ("x", c.anonymous_id) for c in items}), len(items)

    assert total(Filters(axis_id=world.axis1.id)) == count([c for c in contributions
                                                            if c.consultation.axis_id == world.axis1.id])
    assert total(Filters(consultation_id=a.id)) == count([c for c in contributions if c.consultation.id == a.id])
    since, until = (NOW - timedelta(days=4)).date(), (NOW - timedelta(days=2)).date()
    assert total(Filters(since=since, until=until)) == count(
        [c for c in contributions if since.isoformat() <= paris_day(c.at) <= until.isoformat()])
    people = {u.id: u for u in world.people.values()}
    assert total(Filters(epci_siren=LENS_LIEVIN)) == count(
        [c for c in contributions if c.person in people and people[c.person].commune_insee in (LIEVIN, LENS)])


def test_votes_of_a_consultation_hiding_its_results_are_not_counted_until_the_end(session: Session,
                                                                                world: World) -> None:
    hidden = world.consultations["hidden"]
    during = stats.tables(session, Filters(consultation_id=hidden.id), ["channel"], now=NOW, threshold=5)
    assert during.tables["channel"].raw_total == (1, 1)  # the proposal only
    after = stats.tables(session, Filters(consultation_id=hidden.id), ["channel"],
                         now=hidden.results_starts_at + timedelta(minutes=1), threshold=5)
    assert after.tables["channel"].raw_total == (4, 4)


def test_days_are_those_of_paris(session: Session) -> None:
    """23:30 UTC on 31 March 2027 is already 1 April in Paris (summer time); 23:30 UTC on 1 March is
    still 2 March in Paris (00:30 in winter)."""
    consultation = make_consultation(session, phase="voting")
    author = make_user(session)
    for moment in (datetime(2027, 3, 31, 23, 30, tzinfo=UTC), datetime(2027, 3, 1, 22, 59, tzinfo=UTC),
                   datetime(2027, 3, 1, 23, 0, tzinfo=UTC), datetime(2027, 3, 28, 0, 59, tzinfo=UTC),
                   datetime(2027, 3, 28, 1, 0, tzinfo=UTC), datetime(2027, 10, 31, 0, 59, tzinfo=UTC),
                   datetime(2027, 10, 31, 1, 0, tzinfo=UTC)):
        make_proposal(session, consultation, author, now=moment)
    table = stats.tables(session, Filters(consultation_id=consultation.id), ["day"], now=NOW,
                         threshold=5).tables["day"]
    days = {row.key: row.contributions for row in table.rows if row.contributions}
    assert days == {"2027-04-01": 1, "2027-03-01": 1, "2027-03-02": 1, "2027-03-28": 2, "2027-10-31": 2}
    weeks = stats.tables(session, Filters(consultation_id=consultation.id), ["week"], now=NOW,
                         threshold=5).tables["week"]
    assert {row.key: row.contributions for row in weeks.rows if row.contributions} == {
        "2027-03-29": 1, "2027-03-01": 2, "2027-03-22": 2, "2027-10-25": 2}


def test_scope_of_an_evaluator(session: Session, world: World) -> None:
    of_axis1 = evaluator(session, axis_id=world.axis1.id)
    stats.check_filters(session, of_axis1, Filters(axis_id=world.axis1.id))
    stats.check_filters(session, of_axis1, Filters(consultation_id=world.consultations["a"].id))
    with pytest.raises(stats.FiguresForbidden):
        stats.check_filters(session, of_axis1, Filters(axis_id=world.axis2.id))
    with pytest.raises(stats.FiguresForbidden):
        stats.check_filters(session, of_axis1, Filters(consultation_id=world.consultations["c"].id))
    with pytest.raises(stats.FiguresForbidden):
        stats.check_filters(session, of_axis1, Filters())  # the whole platform
    assert stats.default_filters(session, of_axis1, Filters()).axis_id == world.axis1.id
    resident = accounts.load_principal(session, world.people["lens"])
    with pytest.raises(stats.FiguresForbidden):
        stats.check_filters(session, resident, Filters(axis_id=world.axis1.id))
    everywhere = evaluator(session)
    stats.check_filters(session, everywhere, Filters())


def test_representativeness_rates_and_least_reached(session: Session, world: World) -> None:
    for _ in range(6):
        make_proposal(session, world.consultations["a"], make_user(session, commune=DOUAI))
    reach = stats.representativeness(session, evaluator(session), Filters(), now=NOW, threshold=3)
    communes = {item.key: item for item in reach.communes}
    population = sum(c.population for c in session.exec(select(Commune)))
    assert reach.population == population
    assert communes[LIEVIN].participants == 3
    total = reach.total_participants
    assert isinstance(total, int)
    assert reach.average == pytest.approx(total / population * 1000)
    shown = [item for item in reach.communes if item.mark is Mark.shown and item.participants]
    assert shown
    for item in shown:
        assert item.rate == pytest.approx(item.participants / item.population * 1000)
        assert item.ratio == pytest.approx(item.rate / reach.average)
        assert item.rate_text == f"{item.rate:.2f}"
    # Suppressed communes say nothing but a bound computed from the threshold and their population.
    for item in reach.communes:
        if item.mark is Mark.primary:
            assert item.rate is None
            assert item.rate_text == f"<{3 / item.population * 1000:.2f}"
        elif item.mark is Mark.complementary:
            assert (item.rate, item.rate_text, item.ratio_text) == (None, "s", "s")
    # The least reached: communes under the threshold first, the most populous of them first.
    first = reach.least_reached[0]
    assert first.mark is Mark.primary
    assert first.population == max(c.population for c in reach.communes if c.mark is Mark.primary)
    epcis = {item.key: item for item in reach.epcis}
    assert epcis[LENS_LIEVIN].population == sum(
        c.population for c in session.exec(select(Commune).where(Commune.epci_siren == LENS_LIEVIN)))


def test_one_query_per_table_whatever_the_data(session: Session, world: World) -> None:
    """Counted by the database (GROUP BY): the number of queries does not grow with the data."""
    from tests.support import statements

    engine = session.get_bind()
    with statements(engine) as before:
        stats.tables(session, Filters(), list(stats.BREAKDOWNS), now=NOW, threshold=5)
    for _ in range(20):
        make_proposal(session, world.consultations["a"], make_user(session, commune=DOUAI))
    with statements(engine) as after:
        stats.tables(session, Filters(), list(stats.BREAKDOWNS), now=NOW, threshold=5)
    assert len(after) == len(before)
    assert len(before) >= 1 + len(stats.BREAKDOWNS)
    assert len(before) <= 1 + len(stats.BREAKDOWNS) + 6  # totals, one per table, the rows' names
