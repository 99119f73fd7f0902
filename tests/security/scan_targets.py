"""Sessions and targets for the scanners (tests/security/scanners.sh), against a seeded instance.

    python -m tests.security.scan_targets BASE_URL DATABASE_URL OUT_DIR

Signs in as demo accounts through the sign-in form (CARREAU_DEMO_PASSWORD), makes a bearer token
for the demo resident in the database, reads a few ids of the demo data and writes into OUT_DIR:
`cookie_<who>` (a Cookie header), `csrf_<who>` (the CSRF token that goes with it), `bearer`
(a resident's token) and `targets.tsv` (one sqlmap target a line: name, method, URL, body, auth).
Only ever 127.0.0.1: the script refuses any other host."""

import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.actions.models import PublicAction
from app.consultations.models import Consultation
from app.core.clock import utcnow
from app.core.db import make_engine
from app.demo import DOMAIN
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis

PEOPLE = {  # who signs in: the demo's resident of Liévin, its moderator (axes 1 and 2), its admin
    "resident": f"nadia.benali@{DOMAIN}",
    "moderator": f"moderation@{DOMAIN}",
    "admin": f"admin@{DOMAIN}",
}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(base_url: str, email: str, password: str) -> tuple[str, str]:
    """The Cookie header of a signed-in browser and the CSRF token of its forms."""
    with requests.Session() as client:
        form = client.get(f"{base_url}/connexion", timeout=30)
        token = CSRF_FIELD.search(form.text)
        if token is None:
            sys.exit("scan_targets: no CSRF field on /connexion")
        answer = client.post(f"{base_url}/connexion", timeout=30, allow_redirects=False,
                             data={"email": email, "password": password, "next": "/", "csrf_token": token.group(1)})
        if answer.status_code != 303:
            sys.exit(f"scan_targets: the sign-in of {email} failed ({answer.status_code})")
        page = client.get(f"{base_url}/compte", timeout=30)
        token = CSRF_FIELD.search(page.text)
        if token is None:
            sys.exit("scan_targets: no CSRF field on /compte")
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        return cookie, token.group(1)


def main(base_url: str, database_url: str, out: Path) -> None:
    if urlsplit(base_url).hostname != "127.0.0.1":
        sys.exit("scan_targets: only 127.0.0.1 may be scanned")
    password = os.environ["CARREAU_DEMO_PASSWORD"]
    out.mkdir(parents=True, exist_ok=True)
    for who, email in PEOPLE.items():
        cookie, csrf = sign_in(base_url, email, password)
        (out / f"cookie_{who}").write_text(cookie)
        (out / f"csrf_{who}").write_text(csrf)
    engine = make_engine(database_url)
    with Session(engine) as session:
        resident = session.exec(select(User).where(User.email == PEOPLE["resident"])).one()
        _token, raw = accounts.create_access_token(session, resident, name="scanners", now=utcnow())
        session.commit()
        (out / "bearer").write_text(raw)
        consultations = session.exec(select(Consultation).order_by(Consultation.id)).all()
        proposal = session.exec(select(Proposal).order_by(Proposal.id)).first()
        comment = session.exec(select(Comment).where(Comment.author_id == resident.id)).first() \
            or session.exec(select(Comment).order_by(Comment.id)).first()
        action = session.exec(select(PublicAction).order_by(PublicAction.id)).first()
        axis = session.exec(select(Axis.slug).order_by(Axis.number)).first()
        admin = session.exec(select(User).where(User.email == PEOPLE["admin"])).one()
        _token, raw_admin = accounts.create_access_token(session, admin, name="scanners", now=utcnow())
        session.commit()
        (out / "bearer_admin").write_text(raw_admin)
        if not (consultations and proposal and comment and action and axis):
            sys.exit("scan_targets: the demo data is missing (carreau seed demo)")
        now = utcnow()  # the consultation in its proposals phase takes new proposals and comments
        open_one = next((c for c in consultations if c.proposals_starts_at <= now < c.voting_starts_at),
                        consultations[0])
        proposal = session.exec(select(Proposal).where(Proposal.consultation_id == open_one.id)
                                .order_by(Proposal.id)).first() or proposal
        cid, slug, pid, aid = open_one.id, open_one.slug, proposal.id, action.id
    engine.dispose()
    api = f"{base_url}/api/v1"
    star = "*"  # sqlmap's injection mark in a URL path or a JSON value
    targets = [
        # Search, filters, sort and paging of the HTML pages (GET; the resident's session).
        ("consultation-page", "GET", f"{base_url}/consultations/{slug}?q=parc&commune=62510&state=published"
                                     "&sort=recent&page=1", "", "cookie_resident"),
        ("axis-page", "GET", f"{base_url}/axes/{axis}?phase=proposals&scope=commune&page=1", "",
         "cookie_resident"),
        ("actions-list", "GET", f"{base_url}/actions?axe=1&etat=planned&page=1", "", "cookie_resident"),
        ("communes", "GET", f"{base_url}/territoire?q=lens&epci=246200364&page=1", "", "cookie_resident"),
        ("moderation-queue", "GET", f"{base_url}/gestion/moderation?onglet=signales&consultation={cid}&page=1", "",
         "cookie_moderator"),
        ("backoffice-audit", "GET", f"{base_url}/gestion/journal?actor=admin&action=proposal.hide"
                                    "&target_type=proposal&target_id=1", "",
         "cookie_admin"),
        # The API's filters (GET; a bearer token).
        ("api-proposals", "GET", f"{api}/consultations/{cid}/proposals?sort=recent&q=parc&commune=62510"
                                 "&state=published&limit=5&offset=0", "", "bearer"),
        ("api-consultations", "GET", f"{api}/consultations?axis={axis}&phase=proposals&scope=commune&limit=5&offset=0",
         "", "bearer"),
        ("api-communes", "GET", f"{api}/territory/communes?q=lens&epci=246200364&limit=5&offset=0", "", "bearer"),
        ("api-actions", "GET", f"{api}/actions?axis=1&status=planned&consultation={cid}&limit=5&offset=0", "",
         "bearer"),
        ("api-audit", "GET", f"{api}/audit?actor=1&action=proposal.hide&target_type=proposal&target_id=1"
                             "&limit=5", "", "bearer_admin"),
        ("api-proposal-id", "GET", f"{api}/proposals/{pid}{star}", "", "bearer"),
        # JSON bodies (POST/PATCH; a bearer token, so no CSRF token is needed).
        ("api-new-proposal", "POST", f"{api}/consultations/{cid}/proposals",
         '{"title": "Un banc devant la mairie*", "body": "Pour se reposer en attendant le bus, '
         'devant la mairie*"}', "bearer"),
        ("api-comment", "POST", f"{api}/proposals/{pid}/comments", '{"body": "Bonne idée*"}', "bearer"),
        ("api-report", "POST", f"{api}/reports",
         '{"target_type": "proposal", "target_id": ' + str(pid) + ', "reason": "spam", "text": "Publicité*"}',
         "bearer"),
        # An HTML form (POST with the session cookie and its CSRF token).
        ("form-comment", "POST", f"{base_url}/propositions/{pid}/commentaires",
         "body=Bonne%20id%C3%A9e&csrf_token={csrf}", "cookie_resident"),
    ]
    with (out / "targets.tsv").open("w") as file:
        for target in targets:
            name, method, url, body, who = target  # "-": no body (a tab-separated field is never empty)
            file.write("\t".join((name, method, url, body or "-", who)) + "\n")
    (out / "ids").write_text(f"consultation={cid}\nslug={slug}\nproposal={pid}\naction={aid}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
