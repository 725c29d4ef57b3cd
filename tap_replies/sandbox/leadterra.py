"""The Leadterra API as documented in ../shared/api-docs: replies, SDRs and due follow-ups.

Bearer auth (the base class). Errors are `{"error": "..."}`. Only the read endpoints are emulated:
the write endpoints (assign, complete, skip, reschedule, schedule) are never called by the tap, so a
request to one of them falls through to the server's 404 and shows up in the request log.

`/v1/replies` answers in one of the three shapes Leadterra's pages show, chosen by `replies_shape`:
    "array"      [...]                                       (the reference page; the default)
    "data"       {"data": [...]}
    "paginated"  {"replies": [...], "pagination": {"total", "page", "perPage"}}, honouring
                 `?page=` (from 1) and `?perPage=` (1..MAX_PER_PAGE, default DEFAULT_PER_PAGE)
The other two shapes ignore `page`/`perPage`, as no page parameter is documented for them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import typing as t

from tap_replies.sandbox.core import (
    EPOCH,
    SEED_SECONDS,
    ApiError,
    ProviderEmulator,
    RecordKey,
    Request,
    Route,
    int_arg,
    iso,
    now_utc,
    route,
)

REPLIES = "leadterra_replies"
SDRS = "leadterra_sdrs"
FOLLOWUPS = "leadterra_followups"

SHAPES = ("array", "data", "paginated")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
# Leadterra's pages: `limit` defaults to 50, at most 200. The tap asks for limit=200, so more than
# 200 due follow-ups could not be read through this endpoint at all: the emulator never holds more
# (a new follow-up beyond the cap completes the one due longest ago).
FOLLOWUP_LIMIT_DEFAULT = 50
FOLLOWUP_LIMIT_MAX = 200

# Not documented; what the emulator accepts, so a malformed id can be told from an unknown one.
CAMPAIGN_ID = re.compile(r"camp_[A-Za-z0-9_]+")

DOCUMENTED_LABELS = ("interested", "not_interested", "out_of_office", "bounce", "unsubscribe")
LABEL_WEIGHTS = (30, 25, 20, 10, 10)
# Cumulative shares over (0.02, 1): the first 2% of draws is the undocumented label.
_LABEL_CUTS = tuple(0.02 + 0.98 * sum(LABEL_WEIGHTS[: i + 1]) / sum(LABEL_WEIGHTS)
                    for i in range(len(LABEL_WEIGHTS) - 1))
# A label the docs do not list: the tap must keep it rather than fail.
NEW_LABEL = "meeting_booked"

T = t.TypeVar("T")


SNIPPETS: tuple[str | None, ...] = (
    "Hi, this looks really interesting — can you send over more details on pricing?",
    "I'm currently out of the office until June 17th. I'll respond when I return.",
    "Sounds great 👍 can we talk Thursday?",
    "Not for us right now, thanks 🙏",
    "Please remove me from this list.",
    "Delivery Status Notification (Failure): address not found",
    "Je suis absent jusqu'au 17 juin. Pour toute urgence, contactez Zoë.",
    "Bitte entfernen Sie mich aus Ihrem Verteiler. Grüße, Jürgen",
    "ありがとうございます。詳細を教えてください。",
    "Ça m'intéresse 😊 — envoyez-moi une démo",
    'Line one\nline two with "quotes" and a tab\there',
    "¿Podemos hablar la próxima semana? 📅",
    "",
    None,
)
FIRST_NAMES = (
    "ava", "ben", "chloé", "dmitri", "eun-ji", "fatima", "gustav", "hana", "iñigo", "jamal",
    "kai", "léa", "mateo", "noor", "olu", "priya", "quinn", "rosa", "søren", "tomás",
)
DOMAINS = ("example.com", "example.org", "acme.test", "münchen.example", "startup.io")
SDR_NAMES = (
    "Jordan Lee", "Sam Rivera", "Alex Kim", "Maria González", "Chen Wei", "Aisha Bello",
    "Noah Schmidt", "Yuki Tanaka", "Olivia Brown", "Rahul Mehta", "Zoë Dupont", "Liam O'Neil",
)


def _pick(options: t.Sequence[T], draw: float) -> T:
    return options[int(draw * len(options))]


_NAIVE_EPOCH = EPOCH.replace(tzinfo=None)


def _iso_seconds(seconds: int) -> str:
    """`iso(EPOCH + seconds)`, several times faster (isoformat instead of strftime)."""
    return (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat() + "Z"


def _reply_order(reply: dict[str, t.Any]) -> tuple[str, str]:
    # Newest first by receivedAt; ids break ties so the order is stable across requests.
    return reply["receivedAt"], reply["id"]


class LeadterraEmulator(ProviderEmulator):
    name = "leadterra"
    api_key = "sk_live_sandbox_leadterra_7f3a9c"

    def __init__(self, seed: int, scale: int) -> None:
        super().__init__(seed, scale)
        # Tests switch this to exercise each documented response shape of /v1/replies.
        self.replies_shape: str = "array"
        self.per_page_default = DEFAULT_PER_PAGE
        self._replies: list[dict[str, t.Any]] = []
        self._by_campaign: dict[str, list[dict[str, t.Any]]] = {}
        self._sorted = False  # replies are appended, then sorted once before they are read
        self._next_reply = 1
        self._next_followup = 1
        self.campaign_ids: list[str] = []
        self.sdrs: list[dict[str, t.Any]] = []
        self.followups: list[dict[str, t.Any]] = []
        self._seed_data()

    # -- data -----------------------------------------------------------------------------

    def _seed_data(self) -> None:
        rng = self.rng
        scale = max(1, self.scale)
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        self.campaign_ids = [
            f"camp_{''.join(rng.choice(alphabet) for _ in range(8))}" for _ in range(4 + 2 * scale)
        ]
        # One campaign with no replies, one with exactly a page of them; activity leaves both alone.
        self.empty_campaign_id = self.campaign_ids[-1]
        self.full_page_campaign_id = self.campaign_ids[-2]
        self._by_campaign = {campaign: [] for campaign in self.campaign_ids}
        busy = self.campaign_ids[:-2]

        total = 250 * scale
        stamps: list[str] = []
        draw = rng.random
        for n in range(total):
            campaign = self.full_page_campaign_id if n < DEFAULT_PER_PAGE else _pick(busy, draw())
            if stamps and draw() < 0.12:
                received = _pick(stamps, draw())  # replies landing in the same second
            else:
                received = _iso_seconds(int(draw() * SEED_SECONDS))
            stamps.append(received)
            self._replies.append(self._new_reply(campaign, received))
        self._replies[rng.randrange(total)]["classification"] = NEW_LABEL
        self._sort()
        # The newest three share one second (the first sync's bookmark is then a tie), and so do
        # the replies either side of the first page boundary of the paginated shape.
        newest = self._replies[0]["receivedAt"]
        for reply in self._replies[1:3]:
            reply["receivedAt"] = newest
        boundary = self._replies[DEFAULT_PER_PAGE - 2]["receivedAt"]
        for reply in self._replies[DEFAULT_PER_PAGE - 1: DEFAULT_PER_PAGE + 2]:
            reply["receivedAt"] = boundary
        self._sorted = False

        self.sdrs = []
        for n in range(12 * scale):
            name = SDR_NAMES[n % len(SDR_NAMES)]
            handle = re.sub(r"[^a-z]", ".", name.lower())
            connected = rng.random() < 0.75
            self.sdrs.append({
                "id": f"sdr_{n + 1:05d}",
                "name": name,
                "email": f"{handle}{n + 1}@leadterra-customer.example",
                "gmailConnected": connected,
                "gmailEmail": f"{handle}.sdr{n + 1}@gmail.com" if connected else None,
            })

        # Due around now (from three days ago to a week ahead), as a live account's are: a
        # demo whose every follow-up was due in the seed year showed due == overdue for all.
        now = now_utc().replace(minute=0, second=0)
        for _ in range(min(120 * scale, FOLLOWUP_LIMIT_MAX - 20)):
            due = now + dt.timedelta(seconds=rng.randrange(-3 * 86400, 7 * 86400))
            self.followups.append(self._new_followup(due))
        self._sort_followups()

    def _new_reply(
        self, campaign: str, received_at: str, classification: str | None = None
    ) -> dict[str, t.Any]:
        # random() and index arithmetic rather than choice(): scale 1000 must seed in seconds.
        draw = self.rng.random
        if classification is None:
            label = draw()
            classification = NEW_LABEL if label < 0.02 else DOCUMENTED_LABELS[
                bisect.bisect(_LABEL_CUTS, label)]
        reply = {
            "id": f"rpl_{self._next_reply:07d}",
            "email": f"{_pick(FIRST_NAMES, draw())}{int(draw() * 1000)}@{_pick(DOMAINS, draw())}",
            "campaignId": campaign,
            "classification": classification,
            "receivedAt": received_at,
            "threadSnippet": _pick(SNIPPETS, draw()),
        }
        self._next_reply += 1
        return reply

    def _new_followup(self, due: dt.datetime) -> dict[str, t.Any]:
        rng = self.rng
        followup = {
            "id": f"fu_{self._next_followup:06d}",
            "threadId": f"thr_{rng.randrange(16**10):010x}",
            "sdrId": rng.choice(self.sdrs)["id"],
            "status": "overdue" if due < now_utc() else "pending",
            "dueAt": iso(due),
            # Fields beyond the documented five: the tap must keep them.
            "replyId": _pick(self._replies, rng.random())["id"] if self._replies else None,
            "step": rng.randint(1, 5),
        }
        self._next_followup += 1
        return followup

    def _sort(self) -> None:
        if self._sorted:
            return
        self._replies.sort(key=_reply_order, reverse=True)
        self._by_campaign = {campaign: [] for campaign in self.campaign_ids}
        for reply in self._replies:
            self._by_campaign.setdefault(reply["campaignId"], []).append(reply)
        self._sorted = True

    def _sort_followups(self) -> None:
        # Due longest ago first: with `limit`, the most urgent ones are the ones returned.
        self.followups.sort(key=lambda f: (f["dueAt"], f["id"]))

    def add_reply(
        self, at: dt.datetime, campaign_id: t.Any = None, *, classification: str | None = None
    ) -> RecordKey:
        with self.lock:
            campaign = campaign_id or self.rng.choice(self.campaign_ids[:-2])
            reply = self._new_reply(campaign, iso(at), classification)
            self._replies.append(reply)
            self._sorted = False
            return (reply["id"],)

    def add_activity(self, count: int = 5) -> dict[str, int]:
        """`count` new replies dated now (so they share a second), and one newly due follow-up."""
        with self.lock:
            now = iso(now_utc())
            for _ in range(count):
                self._replies.append(self._new_reply(self.rng.choice(self.campaign_ids[:-2]), now))
            self._sorted = False
            if count <= 0:
                return {REPLIES: 0, FOLLOWUPS: 0}
            if len(self.followups) >= FOLLOWUP_LIMIT_MAX:
                self.followups.pop(0)  # completed: no longer due
            self.followups.append(self._new_followup(now_utc()))
            self._sort_followups()
            return {REPLIES: count, FOLLOWUPS: 1}

    def complete_followups(self, count: int) -> list[str]:
        """An SDR completes (or skips) the `count` most urgent follow-ups: they leave the due list.
        Returns their ids."""
        with self.lock:
            done, self.followups = self.followups[:count], self.followups[count:]
            return [f["id"] for f in done]

    def remove_sdr(self, sdr_id: str, *, reassign_to: str | None = None) -> int:
        """An SDR removed from the workspace; their due follow-ups go to `reassign_to` (None:
        they leave the due list with them). Returns how many follow-ups were theirs."""
        with self.lock:
            self.sdrs = [s for s in self.sdrs if s["id"] != sdr_id]
            theirs = [f for f in self.followups if f["sdrId"] == sdr_id]
            if reassign_to is None:
                self.followups = [f for f in self.followups if f["sdrId"] != sdr_id]
            for followup in theirs:
                followup["sdrId"] = reassign_to
            return len(theirs)

    # -- endpoints ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            route("GET", "/v1/replies", self.list_replies),
            route("GET", "/v1/sdrs", self.list_sdrs),
            route("GET", "/v1/sdr/followups/due", self.list_due_followups),
        ]

    def list_replies(self, request: Request) -> t.Any:
        campaign = request.arg("campaignId")
        self._sort()
        if campaign is None:
            replies = self._replies
        elif not CAMPAIGN_ID.fullmatch(campaign):
            raise ApiError(400, f"Invalid campaignId '{campaign}': expected camp_ followed by "
                                "letters, digits or underscores")
        elif campaign not in self._by_campaign:
            raise ApiError(404, f"Campaign '{campaign}' not found")
        else:
            replies = self._by_campaign[campaign]
        if self.replies_shape == "array":
            return [dict(r) for r in replies]
        if self.replies_shape == "data":
            return {"data": [dict(r) for r in replies]}
        page = int_arg(request, "page", 1, low=1)
        per_page = int_arg(request, "perPage", self.per_page_default, low=1, high=MAX_PER_PAGE)
        start = (page - 1) * per_page
        return {
            "replies": [dict(r) for r in replies[start: start + per_page]],
            "pagination": {"total": len(replies), "page": page, "perPage": per_page},
        }

    def list_sdrs(self, request: Request) -> t.Any:
        return {"data": [dict(s) for s in self.sdrs]}

    def list_due_followups(self, request: Request) -> t.Any:
        raw = request.arg("limit")
        limit = FOLLOWUP_LIMIT_DEFAULT
        if raw is not None:
            try:
                limit = int(raw)
            except ValueError:
                raise ApiError(400, f"limit must be an integer, got '{raw}'") from None
            # Well-formed but out of range: a validation error, the docs' 422.
            if not 1 <= limit <= FOLLOWUP_LIMIT_MAX:
                raise ApiError(422, f"limit must be between 1 and {FOLLOWUP_LIMIT_MAX}")
        return {"data": [dict(f) for f in self.followups[:limit]]}

    # -- what a sync must return ----------------------------------------------------------

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        with self.lock:
            self._sort()
            return {
                REPLIES: [dict(r) for r in self._replies],
                SDRS: [dict(s) for s in self.sdrs],
                FOLLOWUPS: [dict(f) for f in self.followups[:FOLLOWUP_LIMIT_MAX]],
            }

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {REPLIES: ("id",), SDRS: ("id",), FOLLOWUPS: ("id",)}

    def replies_of(self, campaign_id: str) -> list[dict[str, t.Any]]:
        """A campaign's replies, newest first (what `?campaignId=` returns)."""
        with self.lock:
            self._sort()
            return [dict(r) for r in self._by_campaign.get(campaign_id, [])]

