"""A small fictional encyclopedia and two-hop questions over it.

Why fictional: a model cannot answer "in which province was Mirela Voss born?" from
memory, so the pipeline must retrieve the right two passages — the person's (which
names the town) and then the town's (which names the province). That makes the second
query, which has to carry the *bridge* entity from the first passages, the step a good
instruction changes most, as in the multi-hop tasks (HotpotQA, HoVer) of the GEPA paper.

The world is generated from a fixed seed, so every machine gets the same 180 documents
and 120 questions, and the splits (30 train / 30 validation / 60 test) never change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST = [
    "Mirela", "Tobin", "Asha", "Corwin", "Lidia", "Hamish", "Oona", "Pavel", "Sunniva", "Idris", "Marit", "Feodor",
    "Ysolde", "Bram", "Kestrel", "Anouk", "Ludo", "Saoirse", "Teodor", "Wenna", "Ilario", "Briony", "Casimir", "Elske",
    "Gideon", "Henrike", "Jory", "Liesel", "Orrin", "Petra",
]
LAST = [
    "Voss", "Marrow", "Quill", "Ashdown", "Fennick", "Holloway", "Kasprzak", "Lindqvist", "Morrell", "Nyberg", "Okafor",
    "Pemberton", "Rask", "Sallow", "Thorne", "Umberg", "Varga", "Wexley", "Ystad", "Zorin", "Brannock", "Castellane",
    "Dunmore", "Eskildsen", "Farrow", "Galbraith", "Hadley", "Ivers", "Juniper", "Kettering",
]
PREFIX = ["Quar", "Tams", "Bel", "Ord", "Hask", "Mire", "Vell", "Cor", "Drum", "Fal", "Gry", "Lun", "Ost", "Pell", "Rav", "Sken", "Thal", "Wick", "Yar", "Zem"]
SUFFIX = ["row", "k", "ford", "wick", "mere", "holt", "by", "stead"]
PROVINCES = ["Elmshire", "Varnland", "Coldmarch", "Ostrava Vale", "Sunder Reach", "Hollin", "Marrowfen", "Brightwater"]
FEATURES = ["river", "mountain", "harbour", "market", "mining", "lakeside", "border", "forest"]
PROFESSIONS = ["painter", "botanist", "architect", "cellist", "chemist", "novelist", "cartographer", "engineer", "glassblower", "astronomer"]
INDUSTRIES = ["shipbuilding", "textile", "glassware", "printing", "clockmaking", "brewing", "rail", "pharmacy"]
COMPANY_A = ["Amber", "Iron", "Silver", "North", "Copper", "Blue", "Old", "Red", "Grey", "Lantern"]
COMPANY_B = ["Works", "Foundry", "Guild", "Company", "Mills", "House"]


@dataclass(frozen=True)
class Document:
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    question: str
    answer: str
    kind: str  # province | mayor | headquarters | founded
    subject: str  # the person the question names (hop 1)
    bridge: str  # the entity the second hop must find (a town or a company)
    alternatives: tuple[str, ...]  # every possible answer of this kind: naming two of them is wrong


@dataclass(frozen=True)
class World:
    documents: list[Document]
    questions: list[Question]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _unique(rng: random.Random, make, n: int) -> list[str]:  # noqa: ANN001
    seen: list[str] = []
    while len(seen) < n:
        value = make()
        if value not in seen:
            seen.append(value)
    return seen


def build_world(seed: int = 0, n_people: int = 120, n_towns: int = 40, n_companies: int = 20) -> World:
    """The fixed fictional world: people, towns, companies and one question per person."""
    rng = random.Random(seed)
    towns = _unique(rng, lambda: rng.choice(PREFIX) + rng.choice(SUFFIX), n_towns)
    mayors = _unique(rng, lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}", n_towns)
    people = _unique(rng, lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}", n_people + n_towns)
    people = [p for p in people if p not in mayors][:n_people]
    companies = _unique(rng, lambda: f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}", n_companies)

    town_info = {
        t: {"province": rng.choice(PROVINCES), "feature": rng.choice(FEATURES), "founded": str(rng.randint(1120, 1890)), "mayor": mayors[i]}
        for i, t in enumerate(towns)
    }
    company_info = {c: {"industry": rng.choice(INDUSTRIES), "town": rng.choice(towns), "founder": rng.choice(people)} for c in companies}
    person_info = {p: {"profession": rng.choice(PROFESSIONS), "town": rng.choice(towns), "company": rng.choice(companies)} for p in people}

    docs: list[Document] = []
    for p, info in person_info.items():
        docs.append(Document(p, f"{p} is {_article(info['profession'])} {info['profession']}. {p.split()[0]} was born in {info['town']} "
                                f"and now works for {info['company']}."))
    for t, info in town_info.items():
        docs.append(Document(t, f"{t} is a {info['feature']} town in the province of {info['province']}. "
                                f"It was founded in {info['founded']}, and its mayor is {info['mayor']}."))
    for c, info in company_info.items():
        docs.append(Document(c, f"{c} is a {info['industry']} company headquartered in {info['town']}. "
                                f"It was founded by {info['founder']}."))

    years = tuple(sorted({i["founded"] for i in town_info.values()}))
    kinds = ["province", "mayor", "headquarters", "founded"]
    questions: list[Question] = []
    for i, (p, info) in enumerate(person_info.items()):
        kind = kinds[i % len(kinds)]
        role = info["profession"]
        town = info["town"]
        if kind == "province":
            q = Question(f"In which province was the {role} {p} born?", town_info[town]["province"], kind, p, town, tuple(PROVINCES))
        elif kind == "mayor":
            q = Question(f"Who is the mayor of the town where the {role} {p} was born?", town_info[town]["mayor"], kind, p, town, tuple(mayors))
        elif kind == "founded":
            q = Question(f"In which year was the birthplace of the {role} {p} founded?", town_info[town]["founded"], kind, p, town, years)
        else:
            company = info["company"]
            q = Question(f"In which town is the company that employs the {role} {p} headquartered?",
                         company_info[company]["town"], kind, p, company, tuple(towns))
        questions.append(q)
    rng.shuffle(questions)
    return World(docs, questions)


def splits(world: World, n_train: int = 30, n_val: int = 30) -> tuple[list[Question], list[Question], list[Question]]:
    q = world.questions
    return q[:n_train], q[n_train : n_train + n_val], q[n_train + n_val :]
