"""Tuco AI's Check Replies endpoint (`GET /api/replies`) as documented in ../shared/api-docs.

Bearer auth (the base class). Errors are `{"error": "...", "code"?: "..."}`.

Ids — leads, campaigns, lines and messages — are 24-character lowercase hex strings (MongoDB
ObjectIds). Tuco documents that format for `leadId` and `lineId`; `campaignId` is assumed to be
the same kind of id, so a campaign id that is not 24 hex characters is a 400 "Invalid campaignId"
and a well-formed one that does not exist is a 404 "Campaign not found".

The listing is one row per lead that replied, newest first by `respondedAtUtc` (the lead's newest
reply), ties broken by `leadId` so pages are stable. `dateFrom`/`dateTo` are inclusive bounds on
that timestamp. There is no total in the response: a page shorter than `limit` is the last one.

Seeded data (deterministic from seed and scale; about 300 replying leads per unit of scale):
- one campaign with leads but no replies, one with exactly `FULL_PAGES_CAMPAIGN_PAGES` pages of
  `MAX_LIMIT` replies per unit of scale (a count that is an exact multiple of the page size);
  `add_activity` leaves both alone;
- groups of leads whose newest replies share one second, including the newest of all;
- names and texts in many scripts and with emoji; `name`, `recipientEmail` and `recipientPhone`
  are sometimes null;
- a few leads per campaign that never replied (`?leadId=` finds them but lists nothing).

Message lists are built from a per-lead seed only when a lead is listed, so scale=1000
(300k leads) generates in seconds rather than minutes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import re
import typing as t
from dataclasses import dataclass, field

from tap_replies.sandbox.core import (
    EPOCH,
    SEED_SECONDS,
    ApiError,
    ProviderEmulator,
    RecordKey,
    Request,
    Route,
    int_arg,
    now_utc,
    parse_iso,
    route,
)

REPLIES = "tuco_replies"

DEFAULT_LIMIT = 50
# Tuco's page says "max 100" without saying what happens above it; the emulator refuses with a
# 400 rather than clamping, so a tap that ever asks for more fails loudly in tests.
MAX_LIMIT = 100
# recentReplies and parentMessages hold at most this many entries each (the docs' "up to 10").
HISTORY_CAP = 10

OBJECT_ID = re.compile(r"[0-9a-f]{24}")

_EPOCH_TS = int(EPOCH.timestamp())

LEADS_PER_SCALE = 300
ORDINARY_CAMPAIGNS = 6
FULL_PAGES_CAMPAIGN_PAGES = 1
NEVER_REPLIED_PER_CAMPAIGN = 3
TIE_GROUPS = 4
TIE_GROUP_SIZE = 5

NAMES: tuple[str | None, ...] = (
    "Ava Thompson", "José Álvarez", "Zoë Kowalski", "李伟", "Łukasz Nowak", "Amélie Dubois",
    "Ngozi Okafor", "Søren Madsen", "Priya Raman", "Mateo Rossi", "Hana Sato", "Dmitri Volkov",
    "O'Brien, Seán", "Fatima Zahra", "Jürgen Weiß", "Émile 🚀 Laurent", None,
)
# Deliberately full of non-ASCII look-alikes (en dash, full-width "!"): real replies are.
TEXTS = (
    "Stop", "Interested!", "Call me tomorrow", "Sounds good 👍", "Who is this?",
    "Can you send pricing?\nThanks", "¿Cuánto cuesta? 🤔", "Not now — maybe Q3 🙏",
    "Ja, gerne – ruf mich an", "素晴らしい！詳細を送ってください", "Remove me", "😂😂😂",  # noqa: RUF001
    'He said "maybe", ask again later', "Je suis intéressé, appelez-moi après 17h",
    "Yes", "no thanks", "Let's talk Thursday 📅", "STOP",
)
# How many replies a lead has sent, and how many steps we sent them: sometimes more than the
# cap of 10, so the cap is exercised.
REPLY_COUNTS = (1, 1, 1, 2, 2, 3, 4, 12)
STEP_COUNTS = (1, 2, 3, 4, 11)
# The local part of each name's email address.
HANDLES = tuple(
    re.sub(r"[^a-z]", "", (name or "").lower().split(" ")[0]) or "lead" for name in NAMES
)
OUTBOUND = (
    "Hi {first}, quick question about your outbound process?",
    "Following up on my last message 🙂",
    "Would a 15-minute call this week work?",
    "Last note from me — should I close the loop?",
    "Saw your post, thought this might help: https://example.com/demo",
)


_UNIX_DAY_ZERO = dt.date(1970, 1, 1)
_DAY_TEXT: dict[int, str] = {}


def _entropy(seed: int, size: int) -> bytes:
    """`size` deterministic bytes for one lead: a single C call, where drawing each value from a
    seeded `random.Random` costs microseconds apiece at 300k leads."""
    return hashlib.shake_128(seed.to_bytes(16, "little")).digest(size)


def _below(data: bytes, at: int, n: int) -> int:
    """A number in [0, n) from the 4 bytes at `at`."""
    return int.from_bytes(data[at: at + 4], "little") % n


def _iso(ts: int) -> str:
    # Formatting through datetime was most of the cost of a full listing at scale; days repeat.
    day, seconds = divmod(ts, 86400)
    prefix = _DAY_TEXT.get(day)
    if prefix is None:
        prefix = _DAY_TEXT[day] = (_UNIX_DAY_ZERO + dt.timedelta(days=day)).isoformat()
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{prefix}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def _digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    # A bare 10-digit number is read as North American, like Tuco's "normalized" form.
    return "1" + digits if len(digits) == 10 else digits


@dataclass(slots=True)
class Lead:
    lead_id: str
    campaign_id: str
    line_id: str
    name: str | None
    email: str | None
    phone: str | None
    seed: int
    # Newest seeded reply (epoch seconds); None for a lead that never replied.
    seeded_reply_at: int | None
    # Replies added by activity, in the order added: (messageId, message, epoch seconds).
    later_replies: list[tuple[str, str, int]] = field(default_factory=list)
    # The newest reply of all (kept as a field: it is the sort key of 300k leads at scale).
    responded_at: int | None = None

    def __post_init__(self) -> None:
        self.responded_at = self.seeded_reply_at

    def seed_reply_at(self, at: int) -> None:
        self.seeded_reply_at = self.responded_at = at

    def add_reply(self, message_id: str, message: str, at: int) -> None:
        self.later_replies.append((message_id, message, at))
        self.responded_at = at if self.responded_at is None else max(self.responded_at, at)


class _Listing:
    """Leads that replied, newest first, with their negated timestamps for bisecting dates."""

    def __init__(self, newest_first: list[Lead]) -> None:
        self.leads = newest_first
        self.negated = [-t.cast("int", lead.responded_at) for lead in newest_first]

    def between(self, date_from: float | None, date_to: float | None) -> list[Lead]:
        start = 0 if date_to is None else bisect.bisect_left(self.negated, -date_to)
        end = (len(self.leads) if date_from is None
               else bisect.bisect_right(self.negated, -date_from))
        return self.leads[start:end]


class TucoEmulator(ProviderEmulator):
    name = "tuco"
    api_key = "tuco_sk_sandbox_5d1e88b2"

    def __init__(self, seed: int, scale: int) -> None:
        super().__init__(seed, scale)
        # Tests switch this on to get the documented 402 (workspace read-only: billing or plan).
        self.read_only = False
        self.leads: dict[str, Lead] = {}
        self.campaign_ids: list[str] = []
        self.line_ids: list[str] = []
        # What the last `add_activity` did, by leadId, for tests to check.
        self.last_activity: dict[str, list[str]] = {"new": [], "replied_again": []}
        self._seed_data()
        self._index()

    # -- data -----------------------------------------------------------------------------

    def _seed_data(self) -> None:
        rng = self.rng
        scale = max(1, self.scale)
        self.campaign_ids = [self._object_id() for _ in range(ORDINARY_CAMPAIGNS + 2)]
        self.line_ids = [self._object_id() for _ in range(3)]
        self.empty_campaign_id = self.campaign_ids[-1]
        self.full_pages_campaign_id = self.campaign_ids[-2]
        self.ordinary_campaign_ids = self.campaign_ids[:-2]

        full_pages = FULL_PAGES_CAMPAIGN_PAGES * MAX_LIMIT * scale
        replied: list[Lead] = []
        for n in range(LEADS_PER_SCALE * scale):
            campaign = self.full_pages_campaign_id if n < full_pages else rng.choice(
                self.ordinary_campaign_ids
            )
            lead = self._new_lead(campaign, _EPOCH_TS + rng.randrange(SEED_SECONDS))
            replied.append(lead)
        # Several leads answering in the same second, the newest of all among them.
        newest = max(t.cast("int", lead.seeded_reply_at) for lead in replied)
        for group in range(TIE_GROUPS):
            shared = newest if group == 0 else _EPOCH_TS + rng.randrange(SEED_SECONDS)
            for lead in self.rng.sample(replied, TIE_GROUP_SIZE):
                lead.seed_reply_at(shared)
        for campaign in self.campaign_ids:
            for _ in range(NEVER_REPLIED_PER_CAMPAIGN):
                self._new_lead(campaign, None)

    def _object_id(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"

    def _new_lead(self, campaign_id: str, replied_at: int | None) -> Lead:
        serial = len(self.leads) + 1
        # Bytes 0-11 leadId, 12-19 the lead's own seed, then one or four bytes per field.
        data = _entropy(self.seed << 64 | serial, 40)
        name_at = data[20] % len(NAMES)
        email = None if data[21] < 31 else f"{HANDLES[name_at]}.{serial}@example.com"  # 12% null
        phone: str | None = None
        if data[22] >= 15:  # 6% null
            number = int.from_bytes(data[24:32], "little")
            phone = (f"+1{200 + number % 800}{number % 10**7:07d}" if data[23] >= 38
                     else f"+447{number % 10**9:09d}")
        lead = Lead(
            lead_id=data[:12].hex(),
            campaign_id=campaign_id,
            line_id=self.line_ids[data[32] % len(self.line_ids)],
            name=NAMES[name_at],
            email=email,
            phone=phone,
            seed=int.from_bytes(data[12:20], "little"),
            seeded_reply_at=replied_at,
        )
        self.leads[lead.lead_id] = lead
        return lead

    def _index(self) -> None:
        # Ties broken by leadId, so a page holds the same leads whenever it is asked for.
        newest_first = sorted(
            (lead for lead in self.leads.values() if lead.responded_at is not None),
            key=lambda lead: (-t.cast("int", lead.responded_at), lead.lead_id),
        )
        self._all = _Listing(newest_first)
        by_campaign: dict[str, list[Lead]] = {campaign: [] for campaign in self.campaign_ids}
        for lead in newest_first:
            by_campaign[lead.campaign_id].append(lead)
        self._by_campaign = {campaign: _Listing(leads) for campaign, leads in by_campaign.items()}

    def _histories(self, lead: Lead) -> tuple[list[tuple[str, str, int]], list[dict[str, t.Any]]]:
        """(replies newest first, parent messages newest first), rebuilt from the lead's seed."""
        # Bytes 0-1 the counts, 2-13 the batch id, then 16 bytes per message: 12 of id, 4 more.
        data = _entropy(lead.seed, 16 + 16 * (max(REPLY_COUNTS) + max(STEP_COUNTS)))
        seeded: list[tuple[str, str, int]] = []
        at = t.cast("int", lead.seeded_reply_at)
        pos = 16
        for _ in range(REPLY_COUNTS[data[0] % len(REPLY_COUNTS)]):
            seeded.append((data[pos: pos + 12].hex(), TEXTS[data[pos + 12] % len(TEXTS)], at))
            at = max(_EPOCH_TS, at - 60 - _below(data, pos + 12, 3 * 86400))
            pos += 16
        replies = sorted([*reversed(lead.later_replies), *seeded], key=lambda r: -r[2])
        first = (lead.name or "there").split(" ")[0]
        parents: list[dict[str, t.Any]] = []
        batch_id = data[2:14].hex()
        for step in reversed(range(STEP_COUNTS[data[1] % len(STEP_COUNTS)])):
            at = max(_EPOCH_TS, at - 3600 - _below(data, pos + 12, 4 * 86400))
            manual = data[pos + 15] < 20  # 8% typed by hand in the inbox: no batch, no step
            parents.append({
                "messageId": data[pos: pos + 12].hex(),
                "message": OUTBOUND[step % len(OUTBOUND)].format(first=first),
                "sentAtUtc": _iso(at),
                "batchId": None if manual else batch_id,
                "stepIndex": None if manual else step,
            })
            pos += 16
        return replies, parents

    def row(self, lead: Lead) -> dict[str, t.Any]:
        """The lead as `/api/replies` lists it."""
        replies, parents = self._histories(lead)
        message_id, message, at = replies[0]
        return {
            "leadId": lead.lead_id,
            "messageId": message_id,
            "message": message,
            "respondedAtUtc": _iso(at),
            "recipientPhone": lead.phone,
            "recipientEmail": lead.email,
            "name": lead.name,
            "recentReplies": [
                {"messageId": mid, "message": text, "receivedAtUtc": _iso(ts)}
                for mid, text, ts in replies[:HISTORY_CAP]
            ],
            "parentMessages": parents[:HISTORY_CAP],
        }

    # -- activity -------------------------------------------------------------------------

    def reply(
        self, lead_id: str, message: str = "Following up on this 👋", at: int | None = None
    ) -> None:
        """`lead_id` replies (again) at `at` (epoch seconds; default now)."""
        with self.lock:
            lead = self.leads[lead_id]
            lead.add_reply(self._object_id(), message,
                           at if at is not None else int(now_utc().timestamp()))
            self._index()

    def add_reply(self, at: dt.datetime, campaign_id: t.Any = None) -> RecordKey:
        """A new lead who replies at `at`; its key is its leadId."""
        with self.lock:
            campaign = campaign_id or self.rng.choice(self.ordinary_campaign_ids)
            lead = self._new_lead(campaign, int(at.timestamp()))
            self._index()
            return (lead.lead_id,)

    def add_activity(self, count: int = 5, *, again: int | None = None) -> dict[str, int]:
        """`count` new leads reply now, and `again` (default count // 2, at least 1) leads that
        had replied reply once more. The empty and full-pages campaigns are left as they are."""
        with self.lock:
            if count <= 0:
                self.last_activity = {"new": [], "replied_again": []}
                return {REPLIES: 0}
            now = int(now_utc().timestamp())
            rng = self.rng
            repliers = [
                lead.lead_id for lead in self._all.leads
                if lead.campaign_id in self.ordinary_campaign_ids
            ]
            again_count = min(len(repliers), max(1, count // 2) if again is None else again)
            replied_again = rng.sample(repliers, again_count)
            for lead_id in replied_again:
                self.leads[lead_id].add_reply(self._object_id(), rng.choice(TEXTS), now)
            new = [
                self._new_lead(rng.choice(self.ordinary_campaign_ids), now).lead_id
                for _ in range(count)
            ]
            self._index()
            self.last_activity = {"new": new, "replied_again": replied_again}
            return {REPLIES: len(new) + len(replied_again)}

    # -- the endpoint ---------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [route("GET", "/api/replies", self.list_replies)]

    def list_replies(self, request: Request) -> t.Any:
        if self.read_only:
            raise ApiError(402, "Workspace is read-only", "WORKSPACE_READ_ONLY")
        lead_id = _arg(request, "leadId")
        campaign_id = _arg(request, "campaignId")
        line_id = _arg(request, "lineId")
        email = _arg(request, "recipientEmail")
        phone = _arg(request, "recipientPhone")

        if lead_id is not None and not OBJECT_ID.fullmatch(lead_id):
            raise ApiError(400, "Invalid leadId")
        if campaign_id is not None and not OBJECT_ID.fullmatch(campaign_id):
            raise ApiError(400, "Invalid campaignId")
        if line_id is not None and not OBJECT_ID.fullmatch(line_id):
            raise ApiError(400, "Invalid lineId")
        date_from = _date_arg(request, "dateFrom")
        date_to = _date_arg(request, "dateTo")
        if date_from is not None and date_to is not None and date_from > date_to:
            raise ApiError(400, "dateFrom must be <= dateTo")
        page = int_arg(request, "page", 1, low=1, not_a_number="Invalid page")
        limit = int_arg(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT,
                        not_a_number="Invalid limit")
        if lead_id is not None and lead_id not in self.leads:
            raise ApiError(404, "Lead not found or access denied")
        if campaign_id is not None and campaign_id not in self._by_campaign:
            raise ApiError(404, "Campaign not found")

        listing = self._all if campaign_id is None else self._by_campaign[campaign_id]
        leads: t.Sequence[Lead] = listing.between(date_from, date_to)
        if lead_id is not None:
            leads = [lead for lead in leads if lead.lead_id == lead_id]
        if line_id is not None:
            leads = [lead for lead in leads if lead.line_id == line_id]
        if email is not None:
            wanted = email.strip().lower()
            leads = [lead for lead in leads if lead.email and lead.email.lower() == wanted]
        if phone is not None:
            digits = _digits(phone)
            leads = [lead for lead in leads if lead.phone and _digits(lead.phone) == digits]
        start = (page - 1) * limit
        return {"replies": [self.row(lead) for lead in leads[start: start + limit]]}

    # -- what a sync must return ----------------------------------------------------------

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        with self.lock:
            return {REPLIES: [self.row(lead) for lead in self._all.leads]}

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {REPLIES: ("leadId",)}

    def replies_of(self, campaign_id: str) -> list[dict[str, t.Any]]:
        """A campaign's rows, newest first (what `?campaignId=` lists)."""
        with self.lock:
            listing = self._by_campaign.get(campaign_id)
            return [self.row(lead) for lead in listing.leads] if listing else []


def _arg(request: Request, name: str) -> str | None:
    # An empty parameter (`?campaignId=`) is read as absent, as most query parsers do.
    value = request.arg(name)
    return value if value else None


def _date_arg(request: Request, name: str) -> float | None:
    raw = _arg(request, name)
    if raw is None:
        return None
    parsed = parse_iso(raw)
    if parsed is None:
        raise ApiError(400, f"Invalid {name}")
    return parsed.timestamp()

