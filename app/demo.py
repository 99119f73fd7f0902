"""Demonstration content for `carreau seed demo`: residents of the Bassin minier, a few staff
accounts, and seven consultations over several axes, territories and phases, with proposals,
supports and comments; in the consultations in their results and follow-up phases, official
answers (accepted, rejected, under study), the actions of the accepted proposals with their
progress updates, and residents' ratings of the actions during the follow-up phase.

Everything goes through the domains' own services (sign-up, onboarding, roles, consultations,
proposals, supports, comments, answers, actions, ratings), at moments chosen inside the right
phases, so every rule holds as it would for real residents. Phase dates are relative to `now`: a
run today gives a consultation in each phase today. Loading is idempotent: accounts are found by
address and consultations by slug, and what exists is left as it is (answers, progress updates and
ratings are added where missing)."""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User, VerificationLevel
from app.accounts.passwords import hash_password, password_problems
from app.accounts.policy import Principal
from app.actions import evaluations
from app.actions import service as actions
from app.actions.models import PublicAction
from app.actions.schemas import AcceptedAction, UpdateDraft
from app.consultations import service as consultations
from app.consultations.models import Consultation
from app.consultations.schemas import ConsultationIn, PhasesIn, PhaseStart, RulesIn, ScopeIn
from app.core.errors import DomainError
from app.proposals import service as proposals
from app.proposals.models import Proposal, ProposalState
from app.proposals.schemas import CommentDraft, ProposalDraft
from app.territory.models import Axis
from app.territory.search import fold
from app.voting import service as voting

DOMAIN = "demo.carreau.invalid"
ADMIN_EMAIL = f"admin@{DOMAIN}"
PASSWORD_VARIABLE = "CARREAU_DEMO_PASSWORD"

LENS_LIEVIN = "246200364"  # CA de Lens - Liévin
HENIN_CARVIN = "246200299"  # CA d'Hénin-Carvin
LIEVIN = "62510"


class InvalidDemoPassword(DomainError):
    status_code = 422
    message = "CARREAU_DEMO_PASSWORD is not accepted by the password policy"

    def __init__(self, problems: list[str]) -> None:
        super().__init__()
        self.errors = {"password": problems}


# --- people


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    commune: str  # INSEE code of the commune they live in
    age: int  # at seeding time: the birth year follows from it
    verified: bool = False  # residence checked in person (by Liévin's mediator, or the admin elsewhere)
    email_local: str = ""  # defaults to prenom.nom
    display_name: str = ""  # defaults to "Prénom N."
    signs_in: bool = False  # gets CARREAU_DEMO_PASSWORD when it is set (and casts no demo support)

    @property
    def key(self) -> str:
        return self.first_name

    @property
    def email(self) -> str:
        local = self.email_local or ".".join(fold(part).replace(" ", "-") for part in (self.first_name, self.last_name))
        return f"{local}@{DOMAIN}"

    @property
    def name(self) -> str:
        return self.display_name or f"{self.first_name} {self.last_name[0]}."


RESIDENTS = (
    # CA de Lens - Liévin
    Person("Nadia", "Benali", "62510", 41, verified=True, signs_in=True),
    Person("Karim", "Haddad", "62510", 35, verified=True),
    Person("Jeanine", "Delattre", "62510", 72),
    Person("Thomas", "Lefebvre", "62498", 29),
    Person("Sylvie", "Carpentier", "62498", 58, verified=True),
    Person("Kevin", "Dubois", "62065", 24),
    Person("Monique", "Wojcik", "62413", 67),
    Person("Rachid", "Mansouri", "62186", 46),
    Person("Léa", "Vandenberghe", "62528", 17),
    Person("Bernard", "Kowalski", "62570", 63),
    Person("Manon", "Lemaire", "62771", 15),
    # CA d'Hénin-Carvin
    Person("Farida", "Ziani", "62427", 44, verified=True, signs_in=True),
    Person("Julien", "Duhamel", "62427", 38),
    Person("Christiane", "Lenoir", "62215", 69),
    Person("Mehdi", "Belkacem", "62637", 27),
    Person("Aurélie", "Dupuis", "62250", 33),
    Person("Stéphane", "Nowak", "62587", 51),
    Person("Josiane", "Caron", "62724", 75),
    Person("Hugo", "Lecomte", "62274", 19),
    # CA de Béthune-Bruay, Artois-Lys Romane
    Person("Isabelle", "Fontaine", "62178", 49),
    Person("Dominique", "Szymanski", "62048", 60),
    Person("Yanis", "Cherif", "62119", 22),
    Person("Valérie", "Leclercq", "62617", 54),
    # Douaisis Agglo, Cœur d'Ostrevent, Porte du Hainaut, Valenciennes Métropole
    Person("Patrick", "Descamps", "59178", 57, verified=True),
    Person("Amina", "Touré", "59569", 31),
    Person("Gérard", "Lemoine", "59574", 70),
    Person("Céline", "Marchand", "59172", 42),
    Person("Lucas", "Ferreira", "59491", 16),
    Person("Émilie", "Dufour", "59014", 36),
    Person("Ahmed", "Brahimi", "59606", 48),
)


@dataclass(frozen=True)
class StaffMember:
    person: Person
    role: Role
    axes: tuple[int, ...] = ()  # axis numbers the role is limited to; none: the whole platform
    commune: str | None = None  # commune the role is limited to


STAFF = (
    StaffMember(Person("Équipe", "Carreau", "62498", 45, email_local="admin", display_name="Équipe Carreau",
                       signs_in=True), Role.admin),
    StaffMember(Person("Sophie", "Masson", "62498", 39, email_local="moderation",
                       display_name="Sophie M., modératrice", signs_in=True), Role.moderator, axes=(1, 2)),
    StaffMember(Person("Malik", "Saïdi", LIEVIN, 34, email_local="mediation.lievin",
                       display_name="Malik S., médiateur à Liévin", signs_in=True), Role.mediator, commune=LIEVIN),
    StaffMember(Person("Claire", "Dewailly", "59178", 52, email_local="evaluation",
                       display_name="Claire D., évaluatrice", signs_in=True), Role.evaluator),
)


# --- content


@dataclass(frozen=True)
class CommentSpec:
    author: str  # a resident's first name
    body: str
    replies: tuple["CommentSpec", ...] = ()


@dataclass(frozen=True)
class UpdateSpec:
    """A dated progress update of an action."""

    days: int  # when, in days from now (negative: past)
    body: str
    status: str
    progress: int


@dataclass(frozen=True)
class AnswerSpec:
    """The official answer to a proposal; an accepted one becomes an action, with its progress
    updates and, during the follow-up phase, residents' ratings."""

    state: str  # evaluating, accepted or rejected
    text: str
    days: int  # when, in days from now
    owner: str = ""
    planned: tuple[int, int] | None = None  # planned start and end, in days from now
    updates: tuple[UpdateSpec, ...] = ()
    ratings: str = ""  # one digit (1-5) per rating, given in turn by eligible residents
    rated: tuple[tuple[str, int, str], ...] = ()  # ratings with a comment: (first name, rating, comment)


@dataclass(frozen=True)
class ProposalSpec:
    author: str  # a resident's first name: they must live in the consultation's territory
    title: str
    body: str
    commune: str | None = None
    cost: int | None = None
    supports: int = 0  # how many residents support it (voting and results phases only)
    comments: tuple[CommentSpec, ...] = ()
    withdrawn: str | None = None  # the author's last word before withdrawing it
    answer: AnswerSpec | None = None


@dataclass(frozen=True)
class ConsultationSpec:
    axis: int
    title: str
    summary: str
    body: str
    days: tuple[int, int, int, int, int]  # start of each phase, in days from now
    scope_kind: str = "basin"
    scope_code: str | None = None
    max_supports: int = 0
    min_age: int | None = None
    easy_read_summary: str | None = None
    easy_read_rules: str | None = None
    proposals: tuple[ProposalSpec, ...] = ()

    @property
    def slug(self) -> str:
        # What consultations.create names it (the first time a title is used).
        return "-".join(fold(self.title).split())[:100]


C = CommentSpec
P = ProposalSpec
A = AnswerSpec
U = UpdateSpec

PATRIMOINE = ConsultationSpec(
    axis=13, days=(-6, 12, 40, 61, 75),
    title="Patrimoine mondial : faire vivre nos fosses, terrils et cités",
    summary=(
        "Le Bassin minier est inscrit au patrimoine mondial de l’UNESCO depuis 2012. Avant l’ouverture des "
        "propositions, découvrez ce qui est inscrit, ce qui est déjà fait pour le préserver, et comment vous "
        "pourrez proposer des idées pour le faire connaître et le faire vivre au quotidien."
    ),
    body="""\
## Pourquoi cette consultation ?

Le 30 juin 2012, le Bassin minier du Nord et du Pas-de-Calais a été inscrit sur la Liste du patrimoine mondial \
de l’UNESCO comme *paysage culturel évolutif vivant*. Cette reconnaissance ne concerne pas seulement des \
monuments : elle concerne des lieux où des habitants vivent, travaillent et se promènent tous les jours.

Nous voulons savoir comment vous aimeriez que ce patrimoine soit mieux connu, mieux entretenu et plus utile \
à la vie des quartiers.

## Ce qui est inscrit

- des **fosses** et des chevalements, comme la fosse 9-9 bis à Oignies ou la base 11/19 à Loos-en-Gohelle ;
- des **terrils**, dont les terrils jumeaux du 11/19, parmi les plus hauts d’Europe ;
- des **cités minières**, avec leurs écoles, leurs églises, leurs salles des fêtes et leurs jardins ;
- des **cavaliers**, les anciennes voies ferrées qui reliaient les fosses entre elles.

## Comment se déroule la consultation

1. **Information** (en ce moment) : lisez cette page, posez vos questions lors des permanences en mairie.
2. **Propositions** : chaque habitant du Bassin minier pourra déposer une ou plusieurs idées.
3. **Vote** : chacun disposera de cinq soutiens à répartir entre les propositions.
4. **Résultats et suivi** : les propositions les plus soutenues seront étudiées, et chaque réponse sera publiée.

## Ce qui est possible, ce qui ne l’est pas

Les idées peuvent porter sur la signalétique, les visites, les animations, l’entretien des sites ou la \
transmission de la mémoire minière. Elles doivent respecter les règles de protection des sites inscrits : \
on ne démolit pas un chevalement, mais on peut l’éclairer, l’ouvrir au public ou y raconter son histoire.
""",
    max_supports=5,
    easy_read_summary=(
        "Le Bassin minier a un prix très important. Ce prix s’appelle le patrimoine mondial de l’UNESCO.\n\n"
        "Les terrils, les fosses et les cités minières sont protégés.\n\n"
        "Nous voulons vos idées pour les faire connaître. Pour l’instant, vous pouvez lire et vous informer. "
        "Bientôt, vous pourrez donner vos idées."
    ),
    easy_read_rules=(
        "Tous les habitants du Bassin minier peuvent participer.\n\n"
        "D’abord, vous donnez vos idées.\n\n"
        "Ensuite, vous choisissez les idées que vous préférez. Vous pouvez choisir 5 idées au maximum."
    ),
)

LOGEMENT = ConsultationSpec(
    axis=1, days=(-35, -18, 17, 38, 52), scope_kind="epci", scope_code=LENS_LIEVIN, max_supports=4,
    title="Rénovation des cités minières de Lens-Liévin : vos priorités",
    summary=(
        "Des milliers de logements miniers de l’agglomération vont être rénovés dans les prochaines années. "
        "Vous habitez une cité ? Dites-nous ce qui compte le plus pour vous : isolation, chauffage, jardins, "
        "rues, lieux de rencontre, accompagnement pendant les travaux."
    ),
    body="""\
## Le contexte

Dans le cadre de l’Engagement pour le renouveau du bassin minier, les bailleurs, les communes et la \
Communauté d’agglomération de Lens-Liévin accélèrent la rénovation des logements miniers. Les travaux \
touchent à la fois les maisons et les espaces autour : rues, trottoirs, jardins, éclairage.

## Ce que nous vous demandons

Proposez ce qui améliorerait le plus votre vie dans une cité rénovée. Par exemple :

- le confort de la maison (isolation, chauffage, humidité, accessibilité) ;
- les espaces extérieurs (jardins, stationnement, cheminements, arbres) ;
- la vie de la cité (lieux de rencontre, sécurité, propreté) ;
- le déroulement des travaux (information, relogement temporaire, interlocuteurs).

## Qui peut participer ?

Les habitants des 36 communes de la Communauté d’agglomération de Lens-Liévin, locataires ou propriétaires, \
à partir de la déclaration de leur commune de résidence.

## Et ensuite ?

Au moment du vote, chaque habitant disposera de **4 soutiens**. Les propositions les plus soutenues seront \
présentées au comité de pilotage de la rénovation, qui répondra publiquement à chacune.
""",
    easy_read_summary=(
        "Beaucoup de maisons des cités minières vont être rénovées.\n\n"
        "Vous habitez dans une cité de l’agglomération de Lens-Liévin ? Donnez-nous vos idées pour que votre "
        "maison et votre quartier soient plus agréables."
    ),
    easy_read_rules=(
        "Vous pouvez participer si vous habitez dans l’agglomération de Lens-Liévin.\n\n"
        "Maintenant, vous pouvez écrire une idée. Vous pouvez écrire plusieurs idées.\n\n"
        "Plus tard, vous pourrez soutenir 4 idées au maximum."
    ),
    proposals=(
        P("Jeanine", "Isoler les murs et les combles avant de changer les fenêtres", """\
Dans ma maison de la cité, on a changé les fenêtres il y a dix ans mais les murs sont toujours aussi froids. \
L'hiver, il faut chauffer sans arrêt et on voit de la moisissure dans les coins des chambres.

Je propose que la rénovation commence toujours par l'isolation des murs et des combles. Des fenêtres neuves \
dans une maison mal isolée, c'est de l'argent perdu.

Il faudrait aussi penser à la ventilation : beaucoup de maisons rénovées deviennent humides parce qu'elles \
ne respirent plus.""", commune="62510",
          comments=(
              C("Bernard", "Tout à fait d'accord. Chez nous à Méricourt, l'isolation par l'extérieur a tout changé, "
                           "la facture de gaz a baissé de moitié.",
                replies=(C("Jeanine", "Merci Bernard, c'est encourageant. Les briques ont été gardées ?"),
                         C("Bernard", "Oui, ils ont posé un parement qui ressemble aux briques d'origine."))),
          )),
        P("Bernard", "Garder les jardins à l'arrière des maisons", """\
Les jardins font partie de la vie des cités depuis toujours. Mon père y faisait ses légumes, moi aussi, et \
mes petits-enfants viennent y ramasser les fraises.

Lors de certaines rénovations, des jardins ont été coupés pour faire des parkings. Je demande que les \
jardins soient gardés, et que ceux qui sont abandonnés puissent être confiés à des voisins ou à une \
association.""", commune="62570",
          comments=(
              C("Thomas", "Et pourquoi pas des composteurs partagés au bout des rangées de jardins ?"),
          )),
        P("Nadia", "Un interlocuteur unique présent dans la cité pendant les travaux", """\
Pendant les travaux de la rue voisine, personne ne savait à qui s'adresser : le bailleur renvoyait vers \
l'entreprise, l'entreprise vers la mairie. Les personnes âgées étaient perdues.

Je propose qu'une personne soit présente une demi-journée par semaine dans la cité, dans un local ou un \
bungalow, pour répondre aux questions, noter les problèmes et prévenir des coupures d'eau ou d'électricité.

Cette personne pourrait aussi aider à remplir les dossiers d'aides pour les propriétaires.""", commune="62510",
          comments=(
              C("Jeanine", "Oui ! On a eu l'eau coupée deux jours sans être prévenus."),
              C("Karim", "Il faudrait aussi un numéro de téléphone qui répond vraiment, pas seulement un mail.",
                replies=(C("Nadia", "Oui, un numéro où quelqu'un décroche, ce serait déjà un grand progrès."),)),
          )),
        P("Rachid", "Remplacer les vieilles chaudières par des pompes à chaleur", """\
Beaucoup de maisons des cités sont encore chauffées avec de vieilles chaudières au gaz ou même au fioul. \
Elles consomment beaucoup et tombent souvent en panne.

Je propose de profiter de la rénovation pour installer des pompes à chaleur, une fois les maisons isolées. \
Le coût est élevé au départ, mais les aides de l'État et les économies sur les factures le compensent.""",
          commune="62186", cost=1_200_000,
          comments=(
              C("Sylvie", "Attention au bruit des unités extérieures quand les maisons sont collées les unes aux "
                          "autres. Il faut bien choisir leur emplacement."),
          )),
        P("Monique", "Des maisons de plain-pied pour les anciens dans chaque cité", """\
J'ai 67 ans et ma chambre est à l'étage. Beaucoup de voisins de mon âge ont dû quitter la cité parce qu'ils \
ne pouvaient plus monter l'escalier.

Je propose qu'on adapte quelques maisons dans chaque cité : chambre et salle d'eau au rez-de-chaussée, \
douche à l'italienne, barres d'appui. Comme ça, on peut vieillir chez soi, près de ses voisins.""",
          commune="62413"),
        P("Thomas", "Respecter les briques et les façades d'origine", """\
Les cités font partie du patrimoine mondial. Certaines rénovations recouvrent les façades d'un enduit gris \
qui fait disparaître les briques, les frises et les encadrements de fenêtres.

On peut isoler tout en gardant l'aspect des maisons : isolation par l'intérieur sur la façade côté rue, \
parements en brique, menuiseries de la bonne couleur. Je propose que ce soit la règle dans toutes les cités \
de l'agglomération.""", commune="62498"),
        P("Kevin", "Éclairer et sécuriser les chemins piétons des cités", """\
Le soir, les chemins entre les rangées de maisons sont très sombres. Les jeunes qui rentrent du travail à \
pied ou en vélo ne se sentent pas en sécurité.

Je propose un éclairage à détection de présence, économe en énergie, et des trottoirs refaits là où les \
racines et les trous font tomber les gens.""", commune="62065", cost=350_000),
        P("Karim", "Un local partagé pour les habitants dans chaque cité rénovée", """\
Avant, il y avait la salle des fêtes, le café, le club des anciens. Aujourd'hui, dans beaucoup de cités, il \
n'y a plus aucun endroit pour se retrouver.

Je propose qu'une maison par cité devienne un local partagé : réunions de voisins, aide aux devoirs, \
atelier de réparation de vélos, permanence du bailleur.

Une association de quartier pourrait en avoir les clés et tenir le planning.""", commune="62510", cost=180_000),
    ),
)

MOBILITE = ConsultationSpec(
    axis=3, days=(-24, -9, 26, 47, 61), max_supports=5,
    title="Se déplacer sans voiture dans le Bassin minier",
    summary=(
        "Bus, vélo, covoiturage, train : comment rendre les trajets du quotidien plus simples pour celles et "
        "ceux qui n’ont pas de voiture, ou qui veulent moins s’en servir ? Déposez vos propositions : elles "
        "sont publiées tout de suite, sans attendre de validation."
    ),
    body="""\
## Pourquoi cette consultation ?

Dans le Bassin minier, de nombreux ménages n’ont pas de voiture. Pour aller travailler, se soigner ou se \
former, il faut souvent combiner plusieurs bus, ou renoncer. Les autorités organisatrices de la mobilité \
préparent leurs prochains plans : vos propositions y seront présentées.

## Sur quoi proposer ?

- les **bus** et les lignes à haut niveau de service, leurs horaires et leurs arrêts ;
- le **vélo** : pistes, stationnement, location ;
- le **train** et les correspondances ;
- le **covoiturage** et le transport à la demande ;
- l’**accessibilité** des trajets pour les personnes à mobilité réduite.

## Les règles

- Tous les habitants du Bassin minier peuvent proposer et voter.
- Les propositions sont publiées dès leur dépôt ; elles peuvent être signalées si elles ne respectent pas \
la charte.
- Au moment du vote, chacun aura **5 soutiens** à répartir.
""",
    proposals=(
        P("Mehdi", "Des bus Bulles le dimanche et plus tard le soir", """\
Je travaille dans la logistique avec des horaires décalés. Le soir, le dernier bus passe trop tôt et le \
dimanche il n'y a presque rien : je dois faire du covoiturage ou payer un taxi.

Je propose de prolonger les lignes Bulles jusqu'à 23 h en semaine et d'assurer un service toutes les heures \
le dimanche sur les principales lignes.""", commune="62637",
          comments=(
              C("Hugo", "Pareil pour les étudiants qui rentrent de Lille le dimanche soir.",
                replies=(C("Mehdi", "Exactement, les correspondances avec le train sont impossibles après 21 h."),)),
          )),
        P("Léa", "Une piste cyclable continue sur les cavaliers", """\
Les anciens cavaliers miniers sont parfaits pour le vélo : ils sont plats et relient les villes entre elles. \
Certains morceaux sont déjà aménagés, mais ils s'arrêtent d'un coup au milieu de nulle part.

Je propose de relier les tronçons existants pour aller à vélo de Loos-en-Gohelle à Lens et à Liévin sans \
passer par les grands axes.

Je vais au lycée à vélo et je serais bien plus en sécurité.""", commune="62528",
          comments=(
              C("Patrick", "À Douai aussi, le cavalier vers Sin-le-Noble mériterait d'être éclairé."),
          )),
        P("Patrick", "Des abris à vélos sécurisés dans les gares", """\
Beaucoup de gens pourraient venir à la gare en vélo, mais personne ne veut laisser le sien dehors toute la \
journée : les vols sont fréquents.

Je propose des abris fermés, accessibles avec la carte de transport, dans les gares de Douai, Béthune, Lens \
et Valenciennes. Quelques places avec recharge pour les vélos électriques seraient un plus.""",
          commune="59178", cost=240_000),
        P("Sylvie", "Un train toutes les demi-heures entre Lens et Lille aux heures de pointe", """\
Le matin, les trains sont bondés et il suffit d'une suppression pour arriver en retard au travail. Beaucoup \
de collègues ont repris la voiture à cause de ça.

Je propose de demander à la Région un train toutes les demi-heures entre 6 h et 9 h et entre 16 h et 19 h, \
avec des rames plus longues.""", commune="62498"),
        P("Isabelle", "Une application de covoiturage pour les horaires postés", """\
Dans les entreprises de la zone, beaucoup de salariés travaillent en équipe (5 h - 13 h, 13 h - 21 h). Les \
bus ne correspondent pas à ces horaires, mais les collègues font souvent le même trajet.

Je propose une application ou un service de mise en relation entre salariés d'une même zone d'activité, \
avec une petite indemnité pour le conducteur prise en charge par l'employeur ou la collectivité.""",
          commune="62178"),
        P("Dominique", "Un transport à la demande pour les villages mal desservis", """\
Dans les petites communes, le bus passe deux fois par jour. Pour un rendez-vous médical ou une démarche en \
ville, les personnes sans voiture dépendent de leurs voisins.

Je propose un transport à la demande, réservable la veille par téléphone ou sur internet, qui amène aux \
arrêts de bus principaux, à la gare ou à l'hôpital.""", commune="62048",
          comments=(
              C("Josiane", "Il faut absolument garder la réservation par téléphone, beaucoup d'anciens n'ont pas "
                           "internet."),
          )),
        P("Émilie", "Un seul abonnement pour tous les bus du Bassin minier", """\
J'habite Anzin et je travaille à Douai : je dois payer deux abonnements de bus, plus le train certains jours.

Je propose un abonnement unique valable sur tous les réseaux du Bassin minier et dans les TER entre les \
villes du bassin, comme cela existe dans d'autres régions.""", commune="59014"),
        P("Christiane", "Des trottoirs praticables en fauteuil jusqu'aux arrêts de bus", """\
Les bus sont accessibles, mais pour arriver jusqu'à l'arrêt, c'est une autre histoire : trottoirs trop \
étroits, voitures garées dessus, bordures trop hautes.

Je propose de vérifier, commune par commune, le chemin entre les quartiers et les arrêts les plus utilisés, \
et de corriger en priorité les obstacles les plus graves.""", commune="62215"),
        P("Yanis", "Aider les jeunes à passer le permis contre du bénévolat", """\
Sans permis, beaucoup de jeunes du bassin ne peuvent pas accepter un emploi ou une formation loin de chez eux.

Je propose une aide au financement du permis de conduire, en échange de quelques heures de bénévolat dans \
une association de la commune. Certaines villes le font déjà et ça marche.""", commune="62119", cost=150_000,
          comments=(
              C("Valérie", "Ça existe déjà dans quelques communes et c'est très demandé. Bonne idée de l'étendre."),
          )),
    ),
)

CENTRALITES = ConsultationSpec(
    axis=2, days=(-70, -52, -8, 13, 27), scope_kind="epci", scope_code=HENIN_CARVIN, max_supports=3,
    title="Redonner vie aux centres-villes de l’agglomération d’Hénin-Carvin",
    summary=(
        "Commerces fermés, places désertes, services qui s’éloignent : comment redonner envie de venir en "
        "centre-ville ? Les habitants de l’agglomération ont déposé leurs idées ; c’est maintenant le moment "
        "de soutenir celles que vous préférez."
    ),
    body="""\
## Le contexte

Les quatorze communes de la Communauté d’agglomération d’Hénin-Carvin mènent un programme de revitalisation \
de leurs centres. Une enveloppe sera consacrée aux projets proposés par les habitants.

## Comment voter

- Vous disposez de **3 soutiens** ; vous ne pouvez soutenir une proposition qu’une fois.
- Vous pouvez retirer un soutien et le donner à une autre proposition tant que le vote est ouvert.
- Seuls les habitants de l’agglomération peuvent voter.

## Après le vote

Les services de l’agglomération étudieront la faisabilité et le coût des propositions les plus soutenues. \
Chaque proposition recevra une réponse publique, qu’elle soit retenue ou non.
""",
    easy_read_summary=(
        "Dans les centres-villes, beaucoup de magasins sont fermés.\n\n"
        "Les habitants ont donné des idées pour rendre les centres-villes plus vivants.\n\n"
        "Maintenant, vous pouvez choisir les idées que vous préférez."
    ),
    easy_read_rules=(
        "Vous pouvez voter si vous habitez dans l’agglomération d’Hénin-Carvin.\n\n"
        "Vous pouvez choisir 3 idées au maximum.\n\n"
        "Vous pouvez changer d’avis avant la fin du vote."
    ),
    proposals=(
        P("Farida", "Un marché couvert en centre-ville d'Hénin-Beaumont", """\
Le marché du vendredi est très fréquenté, mais quand il pleut ou qu'il fait froid, les commerçants et les \
clients désertent la place.

Je propose une halle couverte, ouverte sur les côtés, qui accueillerait le marché et, les autres jours, des \
producteurs locaux, des animations ou des brocantes.""", commune="62427", cost=2_500_000, supports=5,
          comments=(
              C("Julien", "Une halle en brique et en métal rappellerait les bâtiments des fosses, ce serait beau.",
                replies=(C("Farida", "Oui, et elle pourrait servir pour la fête de la Sainte-Barbe."),)),
              C("Stéphane", "Le coût me paraît élevé, mais ça vaut le coup si la halle sert toute la semaine."),
          )),
        P("Julien", "Des boutiques à l'essai dans les cellules commerciales vides", """\
Beaucoup de vitrines sont vides depuis des années. Pendant ce temps, des artisans et des créateurs cherchent \
un local sans pouvoir prendre le risque d'un bail commercial.

Je propose que la commune loue quelques cellules vides et les propose pendant six mois à un loyer très bas à \
des personnes qui veulent tester leur commerce. Si ça marche, elles signent un bail classique.""",
          commune="62427", cost=90_000, supports=4),
        P("Christiane", "Végétaliser la place de Carvin et y installer des bancs", """\
La place est un grand parking minéral où il fait très chaud l'été. On ne peut s'asseoir nulle part.

Je propose de planter des arbres, de créer des massifs et d'installer des bancs à l'ombre, sans supprimer \
toutes les places de stationnement pour les commerces.""", commune="62215", cost=300_000, supports=3,
          comments=(
              C("Josiane", "Des bancs avec accoudoirs, s'il vous plaît, pour pouvoir se relever facilement."),
          )),
        P("Aurélie", "Une maison des services publics au cœur de Courrières", """\
Pour la CAF, la retraite ou les impôts, il faut aller loin ou tout faire sur internet. Beaucoup de gens \
n'y arrivent pas seuls.

Je propose de regrouper en centre-ville une maison des services avec des permanences et des conseillers \
pour aider aux démarches en ligne.""", commune="62250", supports=3),
        P("Mehdi", "Ouvrir la médiathèque d'Oignies le dimanche matin", """\
Le dimanche matin, le centre-ville est animé grâce au marché, mais la médiathèque est fermée. Les familles \
qui travaillent en semaine n'ont pas d'autre moment pour y aller.

Je propose une ouverture le dimanche de 10 h à 13 h, à titre d'essai pendant un an.""",
          commune="62637", supports=2),
        P("Stéphane", "Des zones de rencontre à 20 km/h dans les rues commerçantes", """\
Dans les rues commerçantes, les voitures roulent vite et les trottoirs sont étroits. On n'a pas envie de \
flâner devant les vitrines.

Je propose de passer ces rues en zone de rencontre : priorité aux piétons, vitesse limitée à 20 km/h, \
quelques places de livraison.""", commune="62587", supports=1),
        P("Josiane", "Un café associatif pour rompre l'isolement des anciens", """\
Depuis que le café de la place a fermé, beaucoup de personnes âgées ne sortent plus de chez elles.

Je propose un café associatif tenu par des bénévoles, avec des prix modestes, des jeux de cartes, des \
après-midi dansants et une permanence d'écrivain public.""", commune="62724", cost=60_000, supports=1,
          comments=(
              C("Hugo", "Je veux bien donner un coup de main le samedi si ça se fait."),
          )),
        P("Hugo", "Des fêtes de quartier qui tournent d'une commune à l'autre", """\
Chaque commune organise sa fête, souvent le même week-end, avec peu de moyens.

Je propose une fête itinérante : un mois dans une commune, le mois suivant dans une autre, avec un budget \
mutualisé et des associations de toute l'agglomération.""", commune="62274"),
    ),
)

FRICHES = ConsultationSpec(
    axis=15, days=(-60, -45, -4, 17, 31), min_age=16,
    title="Terrils, friches et paysages : quels projets pour l’après-mine ?",
    summary=(
        "Les terrils, les friches industrielles et les zones humides nées des affaissements miniers façonnent "
        "nos paysages. Soutenez les projets qui vous semblent les plus utiles pour les habitants et pour la "
        "nature. Ouvert à partir de 16 ans, sans limite de soutiens."
    ),
    body="""\
## Pourquoi cette consultation ?

L’exploitation du charbon a laissé des centaines d’hectares de friches et plus de deux cents terrils. \
Certains sont devenus des espaces naturels protégés, d’autres attendent encore un projet.

## Comment voter

- Tous les habitants du Bassin minier **à partir de 16 ans** peuvent voter.
- Il n’y a **pas de limite** : soutenez toutes les propositions qui vous plaisent.
- Une proposition retirée par son auteur reste visible, mais ses soutiens ne comptent plus.

## Ce qui sera fait des résultats

Les propositions les plus soutenues seront étudiées avec l’Établissement public foncier, les gestionnaires \
d’espaces naturels et les communes concernées.
""",
    proposals=(
        P("Isabelle", "Planter une forêt urbaine sur une friche de Bruay", """\
Près de chez moi, une ancienne friche industrielle est fermée par des grillages depuis quinze ans. Rien n'y \
pousse à part des ronces.

Je propose d'y planter une forêt urbaine, dense et variée, avec des écoles et des habitants pour les \
plantations. Dans dix ans, ce serait un îlot de fraîcheur et un lieu de promenade.""",
          commune="62178", cost=220_000, supports=12,
          comments=(
              C("Amina", "Les enfants adoreraient planter leur arbre et le voir grandir."),
          )),
        P("Kevin", "Des sentiers balisés et des panneaux sur les terrils", """\
On monte souvent sur les terrils le week-end, mais on ne sait jamais par où passer ni ce qu'on a sous les \
yeux.

Je propose des sentiers balisés, avec des panneaux qui expliquent l'histoire de la fosse, la faune et la \
flore, et les points de vue sur le bassin.""", commune="62065", cost=80_000, supports=15,
          comments=(
              C("Léa", "Avec un QR code pour écouter des témoignages d'anciens mineurs ?",
                replies=(C("Kevin", "Excellente idée, ça rejoint la mémoire du patrimoine mondial."),)),
          )),
        P("Léa", "Laisser certaines friches à la nature", """\
Toutes les friches n'ont pas besoin d'être aménagées. Certaines sont devenues des refuges pour des oiseaux, \
des crapauds et des orchidées rares.

Je propose de les protéger, de n'y faire qu'un sentier d'observation, et d'y organiser des sorties avec des \
naturalistes pour les écoles.""", commune="62528", supports=9),
        P("Amina", "Des jardins partagés sur les friches dépolluées", """\
Beaucoup d'habitants des résidences n'ont pas de jardin et aimeraient cultiver un petit potager.

Je propose des jardins partagés sur les friches déjà dépolluées, avec un point d'eau, un abri pour les \
outils et des ateliers de jardinage.""", commune="59569", cost=45_000, supports=7),
        P("Gérard", "Nettoyer les dépôts sauvages le long des cavaliers", """\
Le long des anciens cavaliers, on trouve des matelas, des gravats et des pneus. C'est dommage pour ces \
chemins qui pourraient être si agréables.

Je propose des journées de ramassage avec les habitants, des barrières pour empêcher les camionnettes \
d'entrer, et des amendes pour les pollueurs.""", commune="59574", supports=10),
        P("Ahmed", "Des panneaux solaires sur les friches impossibles à dépolluer", """\
Certaines friches sont trop polluées pour y construire ou y cultiver.

Je propose d'y installer des panneaux solaires, avec une partie des bénéfices reversée aux communes pour \
réduire les factures d'énergie des équipements publics.""", commune="59606", cost=3_000_000, supports=4,
          comments=(
              C("Valérie", "Il faudrait quand même garder des haies autour pour les oiseaux."),
          )),
        P("Céline", "Un belvédère au sommet d'un terril de Denain", """\
Du haut du terril, on voit tout le Valenciennois. Mais le sommet n'est pas aménagé et la montée est \
dangereuse quand il a plu.

Je propose un escalier sécurisé et une plateforme avec une table d'orientation.""",
          commune="59172", cost=400_000, supports=6),
        P("Valérie", "Rouvrir les mares nées des affaissements miniers", """\
Les affaissements ont créé des zones humides qui sont devenues très riches pour la nature, mais beaucoup \
sont envahies par les déchets ou asséchées.

Je propose de les restaurer, d'y installer des observatoires à oiseaux et d'expliquer aux visiteurs comment \
elles se sont formées.""", commune="62617", supports=3),
        P("Rachid", "Un parcours sportif entre les terrils de Loos-en-Gohelle", """\
Beaucoup de gens courent déjà sur les terrils jumeaux. Un parcours sportif avec quelques agrès permettrait \
d'en profiter davantage.

Le parcours pourrait relier la base 11/19 aux autres terrils de la commune.""", commune="62528", supports=4,
          withdrawn=("Je retire ma proposition : elle rejoint celle de Kevin sur les sentiers balisés. "
                     "Soutenez plutôt la sienne !")),
    ),
)

CULTURE = ConsultationSpec(
    axis=14, days=(-150, -125, -75, -30, 60), max_supports=4,
    title="La culture près de chez soi : quels projets soutenir ?",
    summary=(
        "Concerts, théâtre, lecture, mémoire de la mine : les habitants ont proposé puis soutenu leurs projets "
        "culturels préférés. Le vote est terminé ; découvrez les résultats et les propositions qui seront "
        "étudiées en priorité."
    ),
    body="""\
## Ce qui s’est passé

- **Propositions** : les habitants du Bassin minier ont déposé leurs idées pendant sept semaines.
- **Vote** : chacun disposait de **4 soutiens**.
- **Résultats** : les propositions sont classées selon le nombre de soutiens reçus.

## Et maintenant ?

Les propositions les plus soutenues sont étudiées avec les communes, la Mission Bassin Minier et les \
structures culturelles du territoire. Une réponse sera publiée pour chacune pendant la phase de suivi.
""",
    proposals=(
        P("Monique", "Des concerts dans les salles des fêtes des cités", """\
Les salles des fêtes des cités ont accueilli des générations de bals et d'harmonies. Aujourd'hui, elles \
servent surtout pour des réunions.

Je propose une saison de concerts gratuits ou à petit prix dans ces salles : harmonies, chorales, groupes \
locaux, et de temps en temps des artistes connus.""", commune="62413", supports=9,
          comments=(
              C("Gérard", "L'harmonie de ma commune serait ravie de participer."),
          )),
        P("Thomas", "Un festival de musique sur le site du 11/19", """\
Le site du 11/19 à Loos-en-Gohelle accueille déjà des spectacles. Un festival d'été au pied des terrils \
jumeaux attirerait du monde de toute la région.

Je propose un week-end de concerts avec des artistes du bassin en première partie, et des navettes depuis \
les gares de Lens et de Béthune.""", commune="62528", cost=150_000, supports=14,
          comments=(
              C("Yanis", "Et des places à prix réduit pour les jeunes du bassin !",
                replies=(C("Thomas", "Oui, c'est prévu dans l'idée : tarif réduit et quelques places gratuites "
                                     "distribuées par les centres sociaux."),)),
          )),
        P("Aurélie", "Des ateliers de théâtre pour les ados dans les centres sociaux", """\
Les adolescents ont peu d'activités culturelles près de chez eux, et les cours en conservatoire sont loin \
et chers.

Je propose des ateliers de théâtre gratuits, une fois par semaine, animés par des compagnies du territoire, \
avec un spectacle en fin d'année.""", commune="62250", supports=6,
          answer=A("evaluating", "Les centres sociaux de Liévin et de Oignies sont partants pour un essai. Nous "
                                 "cherchons avec eux les compagnies et le financement ; réponse définitive à "
                                 "l’automne.", days=-18)),
        P("Sylvie", "Le Louvre-Lens dans les écoles et les maisons de retraite", """\
Le Louvre-Lens est une chance, mais beaucoup d'habitants n'y sont jamais allés.

Je propose que des médiateurs du musée viennent présenter des œuvres, avec des reproductions, dans les \
écoles, les centres sociaux et les maisons de retraite, puis organisent une visite au musée.""",
          commune="62498", supports=18,
          comments=(
              C("Jeanine", "Ma voisine de 90 ans serait tellement contente de voir ça."),
              C("Émilie", "Cela existe un peu déjà, mais il faudrait que ce soit régulier et dans tout le bassin."),
          ),
          answer=A("accepted", "Retenue. Le Louvre-Lens et l’Éducation nationale organisent des visites dans vingt "
                               "écoles et dix maisons de retraite du bassin dès la rentrée, puis une visite au "
                               "musée pour chaque groupe.", days=-20, owner="Musée du Louvre-Lens",
                   planned=(-10, 200),
                   updates=(U(-6, "Les vingt premières écoles sont choisies avec les inspections de Lens et "
                                  "d’Hénin-Beaumont ; les médiateurs du musée préparent les reproductions.",
                              "in_progress", 15),))),
        P("Dominique", "Un bibliobus pour les villages sans médiathèque", """\
Dans les petites communes, il n'y a ni librairie ni médiathèque.

Je propose un bibliobus qui passe chaque semaine sur la place, avec des livres, des jeux, des films et une \
connexion internet pour aider aux démarches.""", commune="62048", supports=7),
        P("Bernard", "Enregistrer la mémoire des anciens mineurs", """\
Les derniers mineurs ont plus de 70 ans. Quand ils partiront, leurs souvenirs partiront avec eux.

Je propose d'enregistrer leurs témoignages en vidéo, avec des jeunes du territoire, et de les rendre \
disponibles dans les médiathèques et sur les sites du patrimoine mondial.""", commune="62570", cost=40_000,
          supports=11,
          comments=(
              C("Karim", "Mon grand-père était galibot à 14 ans, il a beaucoup d'histoires à raconter."),
          )),
        P("Gérard", "Des cours de patois picard à la médiathèque", """\
Le patois fait partie de notre histoire. Mes petits-enfants ne le comprennent plus.

Je propose des cours du soir, des lectures et des chansons en patois picard, dans les médiathèques du \
bassin.""", commune="59574", supports=3,
          answer=A("rejected", "Non retenue comme projet du programme : les médiathèques accueillent déjà des "
                               "soirées en patois avec les associations locales, dont nous publions l’agenda.",
                   days=-15)),
    ),
)

NATURE = ConsultationSpec(
    axis=4, days=(-140, -130, -100, -80, -45), max_supports=3,
    title="Des quartiers plus verts et plus frais",
    summary=(
        "Arbres, jardins, eau, ombre : les habitants ont proposé puis soutenu des idées pour rendre leurs "
        "quartiers plus agréables pendant les fortes chaleurs. Les réponses sont publiées et les actions "
        "retenues avancent : suivez-les et dites ce que vous en pensez."
    ),
    body="""\
## Ce qui s’est passé

- **Propositions** : les habitants du Bassin minier ont déposé leurs idées pendant un mois.
- **Vote** : chacun disposait de **3 soutiens**.
- **Réponses** : chaque proposition soutenue a reçu une réponse officielle.

## Le suivi

Les propositions retenues sont devenues des actions. Leur avancement est publié ici, étape par étape. \
Pendant toute la phase de suivi, les habitants peuvent **noter chaque action de 1 à 5** et dire pourquoi.
""",
    proposals=(
        P("Karim", "Planter des arbres dans les cours d’école", """\
L’été, les cours d’école en bitume deviennent des fours. Les enfants n’ont nulle part où se mettre à \
l’ombre.

Je propose de remplacer une partie du bitume par de la terre et d’y planter des arbres, avec les élèves, \
en commençant par les écoles des cités.""", commune="62510", cost=60_000, supports=14,
          answer=A("accepted", "Retenue. Dix cours d’école du bassin seront désimperméabilisées et plantées en "
                               "deux ans, avec les élèves et les parents.", days=-70,
                   owner="Communes et Mission Bassin Minier", planned=(-60, 300),
                   updates=(U(-55, "Les dix écoles sont choisies, d’abord celles qui ont le moins d’ombre. "
                                   "Les plans sont faits avec les enfants en classe.", "in_progress", 20),
                            U(-20, "Quatre cours sont débitumées ; quarante arbres et des haies y sont "
                                   "plantés avec les élèves.", "in_progress", 45)),
                   ratings="544354452453",
                   rated=(("Jeanine", 5, "Mon petit-fils m’a montré *son* arbre : toute la classe est fière."),
                          ("Julien", 3, "Bien, mais rien encore dans les écoles d’Hénin-Beaumont.")))),
        P("Christiane", "Des fontaines à eau dans les parcs", """\
Quand il fait très chaud, il n’y a presque aucun point d’eau dans les parcs de nos communes.

Je propose d’installer des fontaines à eau potable près des jeux d’enfants et des bancs, et d’en indiquer \
l’emplacement sur le site de la commune.""", commune="62215", cost=25_000, supports=11,
          answer=A("accepted", "Retenue. Vingt fontaines seront posées dans les parcs les plus fréquentés avant "
                               "l’été.", days=-68, owner="Communes du bassin", planned=(-40, 90),
                   updates=(U(-30, "Les emplacements sont choisis avec les services des espaces verts.",
                              "in_progress", 30),
                            U(-5, "Douze fontaines fonctionnent déjà ; les huit autres attendent le "
                                  "raccordement.", "in_progress", 60)),
                   ratings="3243224",
                   rated=(("Mehdi", 2, "Celle de mon parc est souvent en panne."),))),
        P("Rachid", "Des jardins partagés au pied des terrils", """\
Beaucoup d’habitants des cités n’ont pas de jardin, alors que des terrains restent en friche à côté.

Je propose des jardins partagés, avec des bacs, un point d’eau et un abri, ouverts aux habitants et aux \
écoles.""", commune="62186", supports=9,
          answer=A("accepted", "Retenue. Un premier jardin partagé ouvre au pied d’un terril, avec "
                               "l’association du quartier.", days=-66, owner="Ville et association de quartier",
                   updates=(U(-10, "Le jardin est ouvert : trente parcelles, un récupérateur d’eau et un abri. "
                                   "Inauguration avec les écoles.", "done", 100),),
                   ratings="55454",
                   rated=(("Monique", 5, "Enfin des tomates à nous ! Merci à l’association."),))),
        P("Stéphane", "Fermer le centre-ville aux voitures l’été", """\
L’été, les rues du centre sont brûlantes et bruyantes.

Je propose de fermer le centre-ville aux voitures les week-ends de juillet et d’août.""", commune="62587",
          supports=6,
          answer=A("rejected", "Non retenue : les commerçants et les services de secours n’ont pas pu s’accorder "
                               "sur un plan de circulation. Des rues piétonnes ponctuelles restent possibles.",
                   days=-64)),
        P("Isabelle", "Des toits végétalisés sur les bâtiments publics", """\
Les toits plats des gymnases et des écoles chauffent au soleil.

Je propose de les couvrir de plantes, qui rafraîchissent le bâtiment et retiennent l’eau de pluie.""",
          commune="62178", cost=200_000, supports=4,
          answer=A("evaluating", "À l’étude : les services vérifient quels toits peuvent porter une couverture "
                                 "végétale.", days=-60)),
        P("Amina", "Des brumisateurs aux arrêts de bus", """\
Attendre le bus en plein soleil est pénible, surtout pour les personnes âgées.

Je propose des brumisateurs et des abris ombragés aux arrêts les plus fréquentés.""", commune="59569",
          supports=2),
    ),
)

CONSULTATIONS = (PATRIMOINE, LOGEMENT, MOBILITE, CENTRALITES, FRICHES, CULTURE, NATURE)


# --- loading


@dataclass
class DemoReport:
    created: Counter[str] = field(default_factory=Counter)
    sign_in_accounts: list[str] = field(default_factory=list)  # addresses that can sign in with the password

    @property
    def nothing_new(self) -> bool:
        return not any(self.created.values())

    def summary(self) -> str:
        if self.nothing_new:
            return "Demo: nothing new (the demo content is already there)."
        parts = [f"{n} {name if n > 1 else name.removesuffix('s')}" for name in
                 ("accounts", "roles", "consultations", "proposals", "supports", "comments", "passwords",
                  "answers", "actions", "updates", "ratings")
                 if (n := self.created[name])]
        if self.created["withdrawals"]:
            parts.append(f"{self.created['withdrawals']} proposal withdrawn by its author")
        return "Demo: created " + ", ".join(parts) + "."


@dataclass
class _Loader:
    session: Session
    now: datetime
    password: str | None
    terms_version: str
    report: DemoReport = field(default_factory=DemoReport)
    users: dict[str, User] = field(default_factory=dict)
    _principals: dict[int, Principal] = field(default_factory=dict)

    def principal(self, user: User) -> Principal:
        assert user.id is not None
        if user.id not in self._principals:
            self._principals[user.id] = accounts.load_principal(self.session, user)
        return self._principals[user.id]

    # people

    def person(self, person: Person, *, created_at: datetime) -> User:
        user = accounts.find_by_email(self.session, person.email)
        if user is None:
            user = accounts.create_user(self.session, display_name=person.name, email=person.email,
                                        is_email_confirmed=True, now=created_at)
            accounts.complete_onboarding(self.session, user, commune_insee=person.commune,
                                         birth_year=self.now.year - person.age, accepts_terms=True,
                                         terms_version=self.terms_version, now=created_at)
            self.report.created["accounts"] += 1
        if person.signs_in and self.password is not None:
            self.report.sign_in_accounts.append(person.email)
            if user.password_hash is None:
                problems = password_problems(self.password, email=person.email)
                if problems:
                    raise InvalidDemoPassword(problems)
                user.password_hash = hash_password(self.password)
                self.session.add(user)
                self.report.created["passwords"] += 1
        self.users[person.key] = user
        return user

    def grant(self, user: User, role: Role, *, axis_id: int | None = None, commune: str | None = None) -> None:
        key = accounts.scope_key(axis_id=axis_id, commune_insee=commune)
        assert user.id is not None
        if any(g.role == role and g.scope_key == key for g in accounts.grants_of(self.session, user.id)):
            return
        accounts.grant_role(self.session, user, role, now=user.created_at, axis_id=axis_id, commune_insee=commune)
        self._principals.pop(user.id, None)
        self.report.created["roles"] += 1

    def people(self) -> None:
        staff_since = self.now - timedelta(days=200)
        for n, member in enumerate(STAFF):
            user = self.person(member.person, created_at=staff_since + timedelta(hours=n))
            if member.axes:
                for number in member.axes:
                    self.grant(user, member.role, axis_id=self.axis(number).id)
            else:
                self.grant(user, member.role, commune=member.commune)
        residents_since = self.now - timedelta(days=180)
        for n, person in enumerate(RESIDENTS):
            existed = accounts.find_by_email(self.session, person.email) is not None
            user = self.person(person, created_at=residents_since + timedelta(days=n, hours=9 + n % 10))
            if person.verified and not existed and user.verification_level != VerificationLevel.verified:
                # A mediator checks residence in their commune; elsewhere the admin does.
                mediators = [m for m in STAFF if m.role == Role.mediator and m.commune == person.commune]
                checker = self.users[mediators[0].person.key if mediators else STAFF[0].person.key]
                accounts.verify_residence(self.session, self.principal(checker), user,
                                          now=user.created_at + timedelta(days=3))

    def axis(self, number: int) -> Axis:
        return self.session.exec(select(Axis).where(Axis.number == number)).one()

    # consultations

    def consultation(self, spec: ConsultationSpec) -> None:
        if self.session.exec(select(Consultation.id).where(Consultation.slug == spec.slug)).first() is not None:
            return
        base = self.now.replace(hour=7, minute=0, second=0, microsecond=0)
        starts = [base + timedelta(days=d) for d in spec.days]
        phases = PhasesIn(**{name: PhaseStart(start=start) for name, start in
                             zip(("information", "proposals", "voting", "results", "follow_up"), starts, strict=True)})
        data = ConsultationIn(
            title=spec.title, summary=spec.summary, body=spec.body, easy_read_summary=spec.easy_read_summary,
            easy_read_rules=spec.easy_read_rules, axis=spec.axis, scope=ScopeIn(kind=spec.scope_kind,
                                                                                  code=spec.scope_code),
            phases=phases, voting_method="support",
            rules=RulesIn(max_supports=spec.max_supports, min_age=spec.min_age), status="published",
        )
        admin = self.users[STAFF[0].person.key]
        consultation = consultations.create(self.session, self.principal(admin), data,
                                            now=starts[0] - timedelta(days=10))
        assert consultation.slug == spec.slug, (consultation.slug, spec.slug)
        self.report.created["consultations"] += 1
        if spec.proposals:
            self.contributions(spec, consultation)

    def contributions(self, spec: ConsultationSpec, consultation: Consultation) -> None:
        # Proposals during the proposals phase (up to a day ago when it is still open).
        opened = consultation.proposals_starts_at + timedelta(days=1)
        closed = min(consultation.voting_starts_at, self.now) - timedelta(days=1)
        step = (closed - opened) / len(spec.proposals)
        submitted: list[Proposal] = []
        for n, item in enumerate(spec.proposals):
            author = self.users[item.author]
            draft = ProposalDraft(title=item.title, body=item.body, commune=item.commune, estimated_cost=item.cost)
            submitted.append(proposals.submit(self.session, self.principal(author), consultation, draft,
                                              now=opened + step * n + timedelta(hours=n % 5)))
            self.report.created["proposals"] += 1
        if any(item.supports for item in spec.proposals):
            self.supports(spec, consultation, submitted)
        for item, proposal in zip(spec.proposals, submitted, strict=True):
            self.comments(item, proposal)
            if item.withdrawn:
                moment = self.now - timedelta(hours=12)
                self.comment(C(item.author, item.withdrawn), proposal, None, moment - timedelta(minutes=10))
                proposals.withdraw(self.session, self.principal(self.users[item.author]), proposal, now=moment)
                self.report.created["withdrawals"] += 1

    def supports(self, spec: ConsultationSpec, consultation: Consultation, submitted: list[Proposal]) -> None:
        """Give each proposal its number of supports from eligible residents, within `max_supports`:
        the most supported first, each from the residents with the most supports left."""
        opened = consultation.voting_starts_at + timedelta(hours=2)
        closed = min(consultation.results_starts_at, self.now - timedelta(days=1))
        # The residents one can sign in as keep their supports, to try voting.
        voters = [self.users[p.key] for p in RESIDENTS if not p.signs_in
                  and consultations.check_eligibility(self.session, self.users[p.key], consultation, now=opened)]
        limit = consultation.max_supports
        used = {user.id: 0 for user in voters}
        plan: list[tuple[User, Proposal]] = []
        order = sorted(range(len(submitted)), key=lambda i: -spec.proposals[i].supports)
        for rank, i in enumerate(order):
            wanted = spec.proposals[i].supports
            turn = {user.id: (k - 7 * rank) % len(voters) for k, user in enumerate(voters)}
            candidates = sorted((u for u in voters if not limit or used[u.id] < limit),
                                key=lambda u: (used[u.id] if limit else 0, turn[u.id]))
            if len(candidates) < wanted:
                raise ValueError(f"demo content: {wanted} supports wanted for {spec.proposals[i].title!r}, "
                                 f"{len(candidates)} residents can give one")
            for user in candidates[:wanted]:
                used[user.id] += 1
                plan.append((user, submitted[i]))
        random.Random(spec.slug).shuffle(plan)  # votes arrive in no particular order
        step = (closed - opened) / (len(plan) + 1)
        for n, (user, proposal) in enumerate(plan, start=1):
            voting.add_support(self.session, self.principal(user), proposal, now=opened + step * n)
            self.report.created["supports"] += 1

    def comments(self, item: ProposalSpec, proposal: Proposal) -> None:
        def flatten(specs: tuple[CommentSpec, ...], depth: int) -> list[tuple[CommentSpec, int]]:
            return [entry for spec in specs for entry in [(spec, depth), *flatten(spec.replies, depth + 1)]]

        thread = flatten(item.comments, 0)
        if not thread:
            return
        opened = proposal.created_at + timedelta(hours=3)
        closed = min(proposal.created_at + timedelta(days=12), self.now - timedelta(hours=14))
        step = (closed - opened) / len(thread)
        parents: dict[int, int] = {}  # depth -> id of the last comment at that depth
        for n, (spec, depth) in enumerate(thread):
            comment_id = self.comment(spec, proposal, parents.get(depth - 1) if depth else None, opened + step * n)
            parents[depth] = comment_id

    def comment(self, spec: CommentSpec, proposal: Proposal, parent_id: int | None, moment: datetime) -> int:
        author = self.users[spec.author]
        comment = proposals.add_comment(self.session, self.principal(author), proposal,
                                        CommentDraft(body=spec.body, parent_id=parent_id), now=moment)
        self.report.created["comments"] += 1
        assert comment.id is not None
        return comment.id


    # the follow-up: official answers, actions, their progress, residents' ratings

    def follow_up(self, spec: ConsultationSpec) -> None:
        """What became of the proposals: each step done once (so a demo loaded before these steps
        existed gets them too), at moments relative to now, in the phases where they belong."""
        answered = [item for item in spec.proposals if item.answer is not None]
        consultation = self.session.exec(select(Consultation).where(Consultation.slug == spec.slug)).first()
        if not answered or consultation is None:
            return
        base = self.now.replace(hour=10, minute=0, second=0, microsecond=0)
        moderator = self.principal(self.users[STAFF[0].person.key])  # the admin answers for every axis
        for item in answered:
            answer = item.answer
            assert answer is not None
            proposal = self.session.exec(select(Proposal).where(
                Proposal.consultation_id == consultation.id, Proposal.title == item.title)).first()
            if proposal is None or proposal.state == ProposalState.withdrawn:
                continue
            if proposal.answered_at is None:
                planned = answer.planned
                fields = AcceptedAction(
                    owner=answer.owner,
                    planned_start=(base + timedelta(days=planned[0])).date() if planned else None,
                    planned_end=(base + timedelta(days=planned[1])).date() if planned else None,
                ) if answer.state == ProposalState.accepted else None
                result = actions.answer(self.session, moderator, proposal, state=answer.state, text=answer.text,
                                        now=base + timedelta(days=answer.days), action=fields)
                self.report.created["answers"] += 1
                self.report.created["actions"] += result.action is not None
            if answer.state != ProposalState.accepted:
                continue
            ids = actions.action_ids_of(self.session, [proposal.id or 0])
            action = self.session.get(PublicAction, ids[0]) if ids else None
            if action is None:
                continue
            if not actions.updates_of(self.session, action):
                for update in answer.updates:
                    moment = base + timedelta(days=update.days)
                    actions.add_update(self.session, moderator, action, UpdateDraft(
                        occurred_on=moment.date(), body=update.body, status=update.status,
                        progress=update.progress), now=moment)
                    self.report.created["updates"] += 1
            self.ratings(consultation, action, answer)

    def ratings(self, consultation: Consultation, action: PublicAction, answer: AnswerSpec) -> None:
        """Residents' ratings during the follow-up phase (up to a day ago); the residents one can sign
        in as keep theirs, to try rating."""
        if not answer.ratings and not answer.rated:
            return
        opened = consultation.follow_up_starts_at + timedelta(days=1)
        closed = self.now - timedelta(days=1)
        if closed <= opened:
            return
        commenters = {name for name, _rating, _text in answer.rated}
        raters = [self.users[p.key] for p in RESIDENTS if not p.signs_in and p.key not in commenters
                  and consultations.check_eligibility(self.session, self.users[p.key], consultation, now=opened)]
        offset = (action.id or 0) * 5 % len(raters)
        plan = [(raters[(offset + n) % len(raters)], int(digit), None) for n, digit in enumerate(answer.ratings)]
        plan += [(self.users[name], rating, text) for name, rating, text in answer.rated]
        step = (closed - opened) / (len(plan) + 1)
        for n, (user, rating, text) in enumerate(plan, start=1):
            principal = self.principal(user)
            if evaluations.own_evaluation(self.session, principal, action) is not None:
                continue
            evaluations.evaluate(self.session, principal, action, rating=rating, comment=text, now=opened + step * n)
            self.report.created["ratings"] += 1


def load_demo(session: Session, *, now: datetime, terms_version: str, password: str | None = None) -> DemoReport:
    """Create what is missing of the demonstration content (flushes, never commits). The territory
    and the axes must be loaded first. With `password`, the demo's staff accounts and two residents
    get it (if they have none yet), so one can sign in as them."""
    loader = _Loader(session, now, password, terms_version)
    loader.people()
    for spec in CONSULTATIONS:
        loader.consultation(spec)
    for spec in CONSULTATIONS:
        loader.follow_up(spec)
    session.flush()
    return loader.report
