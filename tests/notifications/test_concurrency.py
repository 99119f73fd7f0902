"""Two runs of `carreau notifications send` at once (a slow cron run and the next one), on SQLite
and PostgreSQL: each phase start is announced once and each notification emailed once."""

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from app.cli import send_notifications
from app.core.settings import Settings
from app.notifications import service
from app.notifications.models import EmailFrequency, FollowTarget, Notification, PhaseAnnouncement
from tests.concurrency import SECRET, fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_user

RUNS = 2


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path_factory, "notifications_race") as url, \
            seeded_engine(url, pool_size=RUNS + 1, pool_timeout=30) as engine:
        yield engine


def test_two_runs_at_once_announce_once_and_email_once(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        consultation = make_consultation(session, phase="voting")
        consultation.voting_starts_at = NOW - timedelta(hours=1)
        followers = [make_user(session, email=f"suit{n}.{consultation.slug}@example.fr") for n in range(4)]
        for follower in followers:
            service.follow(session, follower.id, FollowTarget.consultation, consultation.id, now=NOW)
        service.set_email_frequency(session, followers[0].id, EmailFrequency.daily, now=NOW)
        consultation_id = consultation.id
        addresses = sorted(f.email for f in followers)
        session.commit()

    settings = Settings(_env_file=None, var_dir=tmp_path / "var", database_url="sqlite://", secret_key=SECRET)
    sent: list[str] = []
    barrier = threading.Barrier(RUNS)
    errors: list[BaseException] = []

    def slow_sender(_settings: Settings, *, to: str, **_mail: object) -> None:
        time.sleep(0.1)  # the other run goes on meanwhile
        sent.append(to)

    def run() -> None:
        try:
            with Session(engine.execution_options(sqlite_immediate=True)) as session:
                barrier.wait()
                send_notifications(session, settings, now=NOW, sender=slow_sender)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(sent) == addresses  # three immediate mails and one digest, none twice
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(PhaseAnnouncement)
                            .where(PhaseAnnouncement.consultation_id == consultation_id)).one() == 1
        notifications = session.exec(select(Notification).where(Notification.target_id == consultation_id)).all()
        assert len(notifications) == 4
        assert all(n.emailed_at == NOW for n in notifications)
