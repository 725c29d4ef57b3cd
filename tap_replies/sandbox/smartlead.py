"""The Smartlead API as documented in ../shared/api-docs (smartlead-*.txt and README.md).

Endpoints:
    GET  /api/v1/campaigns/                     bare array, newest first, no pagination
    GET  /api/v1/campaigns/{campaign_id}/leads  offset, limit 1..100, filters -> {"total", "leads"}
    POST /api/v1/master-inbox/inbox-replies     JSON body, limit 1..20, <= 5 campaign ids
    GET  /api/v1/leads/fetch-categories         bare array

Leads are listed by id ascending (the docs name no order; a stable one is what offset paging needs).
Each lead has a hidden last-event time (created, last sent, replied, re-categorised): it is never
sent, and it is what `event_time_gt` filters on.

Status codes: validation errors on the leads endpoint answer 400, the NestJS default that
Smartlead's `{"message", "statusCode"}` error body comes from (the leads page documents no 422);
the master-inbox page documents 422 for its validation errors, so that endpoint answers 422 (an
inverted `replyTimeBetween`, whose start is after its end, included: the live API does too).
"""

from __future__ import annotations

import datetime as dt
import json
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
    parse_iso,
    route,
)

DAY = 86_400

LEADS_MAX_LIMIT = 100
INBOX_MAX_LIMIT = 20
INBOX_MAX_CAMPAIGNS = 5
INBOX_MAX_ARRAY = 10
INBOX_MAX_EMAIL_ACCOUNTS = 20

CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (1, "Interested", "positive"),
    (2, "Meeting Request", "positive"),
    (3, "Not Interested", "negative"),
    (4, "Do Not Contact", "negative"),
    (5, "Information Request", "neutral"),
    (6, "Out Of Office", "neutral"),
    (7, "Wrong Person", "neutral"),
    (8, "Uncategorizable", "neutral"),
)
LEAD_STATUSES = ("STARTED", "INPROGRESS", "COMPLETED", "PAUSED", "STOPPED")
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "COMPLETED", "STOPPED", "DRAFTED")
EMAIL_STATUS_FILTERS = (
    "is_opened", "is_clicked", "is_bounced", "is_replied", "is_unsubscribed", "is_spam",
    "is_accepted", "not_replied", "is_sender_bounced",
)
FIRST_NAMES = ("John", "Sarah", "José", "Zoë", "Ørjan", "李", "Amélie", "Mohammed", "Priya",
               "Ngozi", "Björn", "Chloé", "Dmitri", "Aiko", "Łukasz")
LAST_NAMES = ("Doe", "Johnson", "García", "Müller", "Nakamura", "O'Brien", "Søndergaard", "王",
              "Kowalski", "Okafor", "Dubois", "Singh")
COMPANIES = ("ACME Corp", "Startup Inc", "Café Ünïcode GmbH", "Rocket 🚀 Labs", "Nordisk Ærø AS",
             "北京科技", "Blue Ocean Ltd", "Zeta Systems")
CUSTOM_FIELD_VALUES: dict[str, tuple[t.Any, ...]] = {
    "job_title": ("CEO", "CTO", "Head of Growth", "VP Sales", "Fondatrice"),
    "industry": ("SaaS", "Fintech", "Healthcare", "E-commerce"),
    "linkedin_url": ("https://linkedin.com/in/someone", "https://linkedin.com/in/другой"),
    "employees": (5, 50, 500, 5000),
    "🎯 priority": ("high", "low", "🔥"),
    "is_customer": (True, False),
}
REPLY_BODIES = (
    "Thanks for reaching out! I'm interested in learning more about your solution...",
    "Not right now, maybe next quarter. 🙏",
    "Please remove me from your list.",
    "Können wir nächste Woche telefonieren?",
    "I'm out of office until Monday — je suis absent.",
    "Sounds great 👍 send me a calendar link",
    "Wrong person, try sarah@startup.io",
)
CUSTOM_FIELD_KEYS = tuple(CUSTOM_FIELD_VALUES)
SUBJECTS = ("Re: Partnership Opportunity", "Re: Quick question 👋", "Re: Votre projet", "RE: Intro")
TAGS = ("hot-lead", "enterprise", "🔥")
ASSIGNEE = {"id": 456, "name": "Jane Smith", "email": "jane@yourcompany.com"}
# Several replies share this reply time, more than a page's worth, across a page boundary.
SHARED_REPLY_TIME = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.timezone.utc)
SHARED_REPLY_COUNT = 23


_NAIVE_EPOCH = EPOCH.replace(tzinfo=None)


def _seconds(value: dt.datetime) -> int:
    """Times are kept as whole seconds since EPOCH: cheap to draw, compare and format."""
    return int((value - EPOCH).total_seconds())


def _fmt(seconds: int) -> str:
    # isoformat on a naive datetime is several times faster than strftime: scale 1000 draws ~1M.
    return (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat() + "Z"


def _bound(value: str | None) -> float | None:
    parsed = parse_iso(value) if isinstance(value, str) else None
    return None if parsed is None else (parsed - EPOCH).total_seconds()


def _public(record: dict[str, t.Any]) -> dict[str, t.Any]:
    """A record as the API sends it: hidden keys (prefixed "_") left out, nested values copied."""
    return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
            for k, v in record.items() if k[0] != "_"}


class SmartleadEmulator(ProviderEmulator):
    name = "smartlead"
    api_key = "sl_sandbox_key_4b2f6e1d9a"
    # How many campaigns the account has (a benchmark's knob: benchmarks/smartlead_campaigns.py).
    campaign_count = 12

    def __init__(self, seed: int, scale: int) -> None:
        super().__init__(seed, scale)
        self.categories: list[dict[str, t.Any]] = []
        self.campaigns: list[dict[str, t.Any]] = []  # newest first
        self.leads: dict[int, list[dict[str, t.Any]]] = {}  # campaign id -> leads by id ascending
        self.messages: list[dict[str, t.Any]] = []
        # Campaign ids by role, for tests: the empty one and the one with exactly one page of leads.
        self.empty_campaign_id = 0
        self.full_page_campaign_id = 0
        # Campaigns whose leads the last add_activity changed; every other campaign is untouched.
        self.touched_campaign_ids: set[int] = set()
        # Test knob: answer the leads request of (campaign id, offset) once with this status.
        self.fail_leads_once: dict[tuple[int, int], int] = {}
        self._version = 0
        self._cache: dict[str, list[dict[str, t.Any]]] = {}
        self._next_lead_id = 700_000
        self._next_message = 1
        self._generate()

    # -- data -----------------------------------------------------------------------------

    def _generate(self) -> None:
        rng = self.rng
        for cid, name, sentiment in CATEGORIES:
            self.categories.append({
                "id": cid, "name": name, "sentiment_type": sentiment,
                "created_at": iso(EPOCH + dt.timedelta(days=cid, hours=cid)),
            })
        # Twelve campaigns at every scale (7+ so campaign filters need two inbox request series);
        # their lead counts grow with scale except the empty one and the one of exactly a page.
        sizes = [0, LEADS_MAX_LIMIT, 120 * self.scale]
        sizes += [rng.randint(3, 25) * self.scale for _ in range(self.campaign_count - 3)]
        names = ["Empty — drafted 📝", "Exactly one page", "Q1 2025 SaaS Outreach", "Fintech EU 🇪🇺",
                 "Relance clients été", "Healthcare US", "Growth 🚀", "Webinar follow-up",
                 "北京 partners", "Agencies", "Re-engagement", "Founders Ørsted"]
        created = sorted((rng.randint(0, SEED_SECONDS - 60 * DAY) for _ in sizes), reverse=True)
        campaign_id = 12_300
        for index, size in enumerate(sizes):
            campaign_id += rng.randint(1, 40)
            created_at = created[index]
            campaign: dict[str, t.Any] = {
                "id": campaign_id,
                "name": names[index % len(names)],
                "status": CAMPAIGN_STATUSES[index % len(CAMPAIGN_STATUSES)],
                "created_at": _fmt(created_at),
                "updated_at": _fmt(rng.randint(created_at, SEED_SECONDS)),
                "_created": created_at,
            }
            self.campaigns.append(campaign)
            self.leads[campaign_id] = [self._new_lead(created_at) for _ in range(size)]
        self.empty_campaign_id = self.campaigns[0]["id"]
        self.full_page_campaign_id = self.campaigns[1]["id"]
        self.campaigns.sort(key=lambda c: (c["_created"], c["id"]), reverse=True)
        for campaign in self.campaigns:
            for lead in self.leads[campaign["id"]]:
                if lead["_replied"] is not None:
                    self._new_message(campaign, lead, lead["_replied"])
        shared = _seconds(SHARED_REPLY_TIME)
        early = [m for m in self.messages if m["_sent"] <= shared]
        for message in rng.sample(early, min(SHARED_REPLY_COUNT, len(early))):
            self._set_reply_time(message, shared)

    def _new_lead(self, after: int) -> dict[str, t.Any]:
        """One lead, drawn with rng.random() mostly: scale 1000 draws a few hundred thousand."""
        rnd = self.rng.random
        self._next_lead_id += 1 + int(rnd() * 3)
        lead_id = self._next_lead_id
        first = FIRST_NAMES[int(rnd() * len(FIRST_NAMES))]
        created_at = after + int(rnd() * (SEED_SECONDS - 20 * DAY - after))
        status = LEAD_STATUSES[int(rnd() * len(LEAD_STATUSES))]
        sent = (None if status == "STARTED"
                else created_at + int(rnd() * (SEED_SECONDS - 10 * DAY - created_at)))
        bounced = sent is not None and rnd() < 0.05
        opened = sent is not None and not bounced and rnd() < 0.6
        replied_at = sent + int(rnd() * (SEED_SECONDS - sent)) if opened and rnd() < 0.5 else None  # type: ignore[operator]
        category = CATEGORIES[int(rnd() * len(CATEGORIES))] if replied_at and rnd() < 0.8 else None
        custom_fields: dict[str, t.Any] = {}
        first_key = int(rnd() * len(CUSTOM_FIELD_KEYS))
        for offset in range(int(rnd() * 4)):
            key = CUSTOM_FIELD_KEYS[(first_key + offset) % len(CUSTOM_FIELD_KEYS)]
            values = CUSTOM_FIELD_VALUES[key]
            custom_fields[key] = values[int(rnd() * len(values))]
        return {
            "id": lead_id,
            "email": f"{first.lower()}.{lead_id}@example.com",
            "first_name": first,
            "last_name": LAST_NAMES[int(rnd() * len(LAST_NAMES))],
            "company_name": COMPANIES[int(rnd() * len(COMPANIES))] if rnd() < 0.85 else None,
            "status": status,
            "category_id": category[0] if category else None,
            "category_name": category[1] if category else None,
            "created_at": _fmt(created_at),
            "last_sent_time": _fmt(sent) if sent is not None else None,
            "email_stats": {
                "is_opened": opened,
                "is_clicked": opened and rnd() < 0.3,
                "is_replied": replied_at is not None,
                "is_bounced": bounced,
            },
            "custom_fields": custom_fields,
            "_created": created_at,
            "_sent": sent,
            "_replied": replied_at,
            "_event": max(created_at, sent or 0, replied_at or 0),
        }

    def _new_message(
        self, campaign: dict[str, t.Any], lead: dict[str, t.Any], received: int
    ) -> dict[str, t.Any]:
        rnd = self.rng.random
        account_id = 781 + int(rnd() * 6)
        account_email = f"sales{account_id}@yourcompany.com"
        message_id = f"msg_{self._next_message:06d}{self.rng.getrandbits(24):06x}"
        self._next_message += 1
        sent = lead["_sent"] if lead["_sent"] is not None else received
        message: dict[str, t.Any] = {
            "id": message_id,
            "campaign_lead_map_id": str(2_433_000_000 + lead["id"]),
            "lead": {
                "email": lead["email"],
                "first_name": lead["first_name"],
                "last_name": lead["last_name"],
                "company": lead["company_name"],
                "phone": f"+1-555-{int(rnd() * 10000):04d}" if rnd() < 0.5 else None,
            },
            "campaign": {"id": campaign["id"], "name": campaign["name"]},
            "email_account": {"id": account_id, "email": account_email, "name": "Sales Team"},
            "last_message": {
                "id": f"email_{self.rng.getrandbits(40):010x}",
                "subject": SUBJECTS[int(rnd() * len(SUBJECTS))],
                "body": REPLY_BODIES[int(rnd() * len(REPLY_BODIES))],
                "received_at": _fmt(received),
                "sent_from": lead["email"],
                "sent_to": account_email,
            },
            "email_status": "Replied",
            "category": ({"id": lead["category_id"], "name": lead["category_name"]}
                         if lead["category_id"] is not None else None),
            "assigned_to": (dict(ASSIGNEE) if rnd() < 0.4 else None),
            "stats": {
                "total_sent": 1 + int(rnd() * 4),
                "total_opened": 1 + int(rnd() * 3),
                "total_clicked": int(rnd() * 2),
                "total_replied": 1,
                "last_activity": _fmt(received),
            },
            "is_read": rnd() < 0.5,
            "is_important": rnd() < 0.1,
            "is_archived": rnd() < 0.05,
            "tags": list(TAGS[: int(rnd() * 3)]),
            "_received": received,
            "_sent": sent,
            "_lead": lead,
            "_account_id": account_id,
        }
        self.messages.append(message)
        return message

    @staticmethod
    def _set_reply_time(message: dict[str, t.Any], received: int) -> None:
        message["_received"] = received
        message["last_message"]["received_at"] = _fmt(received)
        message["stats"]["last_activity"] = _fmt(received)
        lead = message["_lead"]
        lead["_event"] = max(lead["_event"], received)

    @staticmethod
    def _history(message: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        last = message["last_message"]
        return [
            {"id": f"{last['id']}_sent", "type": "SENT", "subject": last["subject"][4:],
             "body": "Hi there, quick question about your outreach…",
             "time": _fmt(message["_sent"]), "from": last["sent_to"], "to": last["sent_from"]},
            {"id": last["id"], "type": "REPLY", "subject": last["subject"], "body": last["body"],
             "time": last["received_at"], "from": last["sent_from"], "to": last["sent_to"]},
        ]

    # -- routes ---------------------------------------------------------------------------

    def authenticate(self, request: Request) -> bool:
        return request.arg("api_key") == self.api_key

    def error_body(self, error: ApiError) -> t.Any:
        return {"message": error.message, "statusCode": error.status}

    def unauthorized(self) -> ApiError:
        return ApiError(401, "Invalid or missing API key")

    def routes(self) -> list[Route]:
        return [
            route("GET", "/api/v1/campaigns/", self.list_campaigns),
            route("GET", "/api/v1/campaigns/{campaign_id}/leads", self.list_leads),
            route("POST", "/api/v1/master-inbox/inbox-replies", self.inbox_replies),
            route("GET", "/api/v1/leads/fetch-categories", self.list_categories),
        ]

    def list_campaigns(self, request: Request) -> t.Any:
        return [_public(c) for c in self.campaigns]

    def list_categories(self, request: Request) -> t.Any:
        return [_public(c) for c in self.categories]

    def list_leads(self, request: Request) -> t.Any:
        try:
            campaign_id = int(request.match["campaign_id"])
        except ValueError:
            raise ApiError(400, "campaign_id must be a number") from None
        if campaign_id not in self.leads:
            raise ApiError(404, "Campaign not found")
        offset = int_arg(request, "offset", 0, not_a_number="offset must be a number")
        limit = int_arg(request, "limit", LEADS_MAX_LIMIT, not_a_number="limit must be a number")
        if offset < 0:
            raise ApiError(400, "offset must not be less than 0")
        if not 1 <= limit <= LEADS_MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {LEADS_MAX_LIMIT}")
        status = self.fail_leads_once.pop((campaign_id, offset), None)
        if status is not None:
            raise ApiError(status, "Forbidden")
        filters = {name: request.arg(name) for name in (
            "created_at_gt", "last_sent_time_gt", "event_time_gt", "status", "lead_category_id",
            "emailStatus") if request.arg(name) not in (None, "")}
        matching = self._cached(f"leads:{campaign_id}:{sorted(filters.items())}",
                                lambda: self._filter_leads(self.leads[campaign_id], filters))
        return {
            "total": len(matching),
            "leads": [_public(lead) for lead in matching[offset:offset + limit]],
            "offset": offset,
            "limit": limit,
        }

    def _filter_leads(
        self, leads: list[dict[str, t.Any]], filters: dict[str, str | None]
    ) -> list[dict[str, t.Any]]:
        checks: list[t.Callable[[dict[str, t.Any]], bool]] = []
        for name, hidden in (("created_at_gt", "_created"), ("last_sent_time_gt", "_sent"),
                             ("event_time_gt", "_event")):
            if name in filters:
                bound = _bound(filters[name])
                if bound is None:
                    raise ApiError(400, f"{name} must be an ISO 8601 date")
                checks.append(_after(hidden, bound))
        if "status" in filters:
            if filters["status"] not in LEAD_STATUSES:
                raise ApiError(400, f"status must be one of {', '.join(LEAD_STATUSES)}")
            checks.append(lambda lead: lead["status"] == filters["status"])
        if "lead_category_id" in filters:
            try:
                category_id = int(str(filters["lead_category_id"]))
            except ValueError:
                raise ApiError(400, "lead_category_id must be a number") from None
            checks.append(lambda lead: lead["category_id"] == category_id)
        if "emailStatus" in filters:
            wanted = str(filters["emailStatus"])
            if wanted not in EMAIL_STATUS_FILTERS:
                raise ApiError(400, f"emailStatus must be one of {', '.join(EMAIL_STATUS_FILTERS)}")
            checks.append(lambda lead: _email_status_matches(lead["email_stats"], wanted))
        return [lead for lead in leads if all(check(lead) for check in checks)]

    def inbox_replies(self, request: Request) -> t.Any:
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(422, "Request body must be a JSON object")
        offset = _int_field(body, "offset", 0)
        limit = _int_field(body, "limit", INBOX_MAX_LIMIT)
        if offset < 0:
            raise ApiError(422, "offset must not be less than 0")
        if not 1 <= limit <= INBOX_MAX_LIMIT:
            raise ApiError(422, f"limit must be between 1 and {INBOX_MAX_LIMIT}")
        sort_by = body.get("sortBy") or "REPLY_TIME_DESC"
        if sort_by not in ("REPLY_TIME_DESC", "SENT_TIME_DESC"):
            raise ApiError(422, "sortBy must be one of REPLY_TIME_DESC, SENT_TIME_DESC")
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise ApiError(422, "filters must be an object")
        key = json.dumps([filters, sort_by], sort_keys=True, default=str)
        matching = self._cached(f"inbox:{key}", lambda: self._filter_messages(filters, sort_by))
        with_history = (request.arg("fetch_message_history") or "false").lower() == "true"
        messages = []
        for message in matching[offset:offset + limit]:
            public = _public(message)
            if with_history:
                public["history"] = self._history(message)
            messages.append(public)
        return {"messages": messages, "total_count": len(matching), "offset": offset,
                "limit": limit}

    def _filter_messages(self, filters: dict[str, t.Any], sort_by: str) -> list[dict[str, t.Any]]:
        checks: list[t.Callable[[dict[str, t.Any]], bool]] = []
        campaign_ids = _id_list(filters.get("campaignId"), "campaignId")
        if campaign_ids is not None:
            if len(campaign_ids) > INBOX_MAX_CAMPAIGNS:
                raise ApiError(422, f"filters.campaignId accepts at most {INBOX_MAX_CAMPAIGNS} ids")
            wanted = set(campaign_ids)
            checks.append(lambda m: m["campaign"]["id"] in wanted)
        accounts = _id_list(filters.get("emailAccountId"), "emailAccountId")
        if accounts is not None:
            if len(accounts) > INBOX_MAX_EMAIL_ACCOUNTS:
                raise ApiError(422, f"filters.emailAccountId accepts at most "
                                    f"{INBOX_MAX_EMAIL_ACCOUNTS} ids")
            account_set = set(accounts)
            checks.append(lambda m: m["_account_id"] in account_set)
        between = filters.get("replyTimeBetween")
        if between is not None:
            if not isinstance(between, list) or len(between) != 2:
                raise ApiError(422, "filters.replyTimeBetween must be [from, to]")
            low, high = _bound(between[0]), _bound(between[1])
            if low is None or high is None:
                raise ApiError(422, "filters.replyTimeBetween: invalid date format")
            if low > high:  # what the live API answers to a window that ends before it starts
                raise ApiError(422, "filters.replyTimeBetween: the start is after the end")
            checks.append(lambda m: low <= m["_received"] <= high)
        if filters.get("emailStatus"):
            status = str(filters["emailStatus"]).lower()
            checks.append(lambda m: m["email_status"].lower() == status)
        categories = filters.get("leadCategories") or {}
        if not isinstance(categories, dict):
            raise ApiError(422, "filters.leadCategories must be an object")
        ids_in = _id_list(categories.get("categoryIdsIn"), "leadCategories.categoryIdsIn")
        ids_not_in = _id_list(categories.get("categoryIdsNotIn"), "leadCategories.categoryIdsNotIn")
        for ids in (ids_in, ids_not_in):
            if ids is not None and len(ids) > INBOX_MAX_ARRAY:
                raise ApiError(422, f"category filters accept at most {INBOX_MAX_ARRAY} ids")
        if ids_in is not None:
            checks.append(lambda m: m["category"] is not None and m["category"]["id"] in ids_in)
        if ids_not_in is not None:
            checks.append(lambda m: m["category"] is None or m["category"]["id"] not in ids_not_in)
        if isinstance(categories.get("isAssigned"), bool):
            assigned = categories["isAssigned"]
            checks.append(lambda m: (m["category"] is not None) == assigned)
        matching = [m for m in self.messages if all(check(m) for check in checks)]
        # Newest first; ties broken by id so pages are stable.
        sort_field = "_received" if sort_by == "REPLY_TIME_DESC" else "_sent"
        matching.sort(key=lambda m: (m[sort_field], m["id"]), reverse=True)
        return matching

    def _cached(
        self, key: str, compute: t.Callable[[], list[dict[str, t.Any]]]
    ) -> list[dict[str, t.Any]]:
        """Filtered, sorted lists are kept until the data changes, so paging stays O(page)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- the contract with tests ----------------------------------------------------------

    def add_activity(self, count: int = 5) -> dict[str, int]:
        """New replies and re-categorised leads, dated now, in a few campaigns only.

        `count` new inbox replies (each from a lead that had not replied, whose lead row then shows
        the reply), and `count` already-replied leads moved to another category. Only two
        campaigns are touched, so the others stay as they were (`touched_campaign_ids`).
        """
        with self.lock:
            now = _seconds(now_utc())
            rng = self.rng
            candidates = [c for c in self.campaigns
                          if c["id"] not in (self.empty_campaign_id, self.full_page_campaign_id)
                          and len(self.leads[c["id"]]) >= 2]
            touched = rng.sample(candidates, min(2, len(candidates)))
            leads = [(c, lead) for c in touched for lead in self.leads[c["id"]]]
            not_replied = [(c, lead) for c, lead in leads
                           if not lead["email_stats"]["is_replied"] and lead["_sent"] is not None]
            replied = [(c, lead) for c, lead in leads if lead["email_stats"]["is_replied"]]
            changed: set[tuple[int, int]] = set()
            new_replies = 0
            for campaign, lead in rng.sample(not_replied, min(count, len(not_replied))):
                category = rng.choice(CATEGORIES)
                lead["email_stats"].update(is_opened=True, is_replied=True)
                lead["category_id"], lead["category_name"] = category[0], category[1]
                lead["_replied"] = now
                lead["_event"] = now
                self._new_message(campaign, lead, now)
                changed.add((campaign["id"], lead["id"]))
                new_replies += 1
            for campaign, lead in rng.sample(replied, min(count, len(replied))):
                choices = [c for c in CATEGORIES if c[0] != lead["category_id"]]
                category = rng.choice(choices)
                lead["category_id"], lead["category_name"] = category[0], category[1]
                lead["_event"] = now
                for message in self.messages:
                    if message["_lead"] is lead:
                        message["category"] = {"id": category[0], "name": category[1]}
                changed.add((campaign["id"], lead["id"]))
            for campaign in touched:
                campaign["updated_at"] = _fmt(now)
            self.touched_campaign_ids = {c["id"] for c in touched}
            self._cache.clear()
            return {"smartlead_inbox_replies": new_replies,
                    "smartlead_campaign_leads": len(changed)}

    def remove_lead(self, campaign_id: int, lead_id: int) -> None:
        """A lead deleted from a campaign: every later lead moves up a place in the list."""
        with self.lock:
            self.leads[campaign_id] = [lead for lead in self.leads[campaign_id]
                                       if lead["id"] != lead_id]
            self._cache.clear()

    def delete_campaign(self, campaign_id: int) -> None:
        """A campaign deleted: it leaves the campaign list (and its leads with it); its replies
        stay in the master inbox, still naming it."""
        with self.lock:
            self.campaigns = [c for c in self.campaigns if c["id"] != campaign_id]
            self.leads.pop(campaign_id, None)
            self._cache.clear()

    def remove_category(self, category_id: int) -> None:
        """A lead category removed from the workspace's list (leads keep the id they carry)."""
        with self.lock:
            self.categories = [c for c in self.categories if c["id"] != category_id]
            self._cache.clear()

    def add_reply(self, at: dt.datetime, campaign_id: t.Any = None) -> RecordKey:
        """A lead that had not replied (in `campaign_id`, if given) replies at `at`."""
        with self.lock:
            campaign, lead = next(
                (c, lead) for c in self.campaigns for lead in self.leads[c["id"]]
                if campaign_id in (None, c["id"])
                and not lead["email_stats"]["is_replied"] and lead["_sent"] is not None)
            second = _seconds(at)
            lead["email_stats"].update(is_opened=True, is_replied=True)
            lead["_replied"] = second
            lead["_event"] = max(lead["_event"], second)
            message = self._new_message(campaign, lead, second)
            self._cache.clear()
            return (message["id"],)

    def touch_lead(self, campaign_id: int, lead_id: int, at: dt.datetime) -> None:
        """A lead's category changes at `at` (its hidden event time moves there)."""
        with self.lock:
            lead = next(lead for lead in self.leads[campaign_id] if lead["id"] == lead_id)
            category = next(c for c in CATEGORIES if c[0] != lead["category_id"])
            lead["category_id"], lead["category_name"] = category[0], category[1]
            lead["_event"] = _seconds(at)
            self._cache.clear()

    def reply_again(self, message_id: str, *, seconds_from_now: int = 5) -> None:
        """The lead of an inbox thread replies again: the thread's reply time moves to then."""
        with self.lock:
            message = next(m for m in self.messages if m["id"] == message_id)
            self._set_reply_time(message, _seconds(now_utc()) + seconds_from_now)
            self._cache.clear()

    def ground_truth(self) -> dict[str, list[dict[str, t.Any]]]:
        with self.lock:
            messages = sorted(self.messages, key=lambda m: (m["_received"], m["id"]), reverse=True)
            return {
                "smartlead_campaigns": [_public(c) for c in self.campaigns],
                "smartlead_campaign_leads": [
                    {**_public(lead), "campaign_id": campaign_id}
                    for campaign_id, leads in self.leads.items() for lead in leads
                ],
                "smartlead_inbox_replies": [
                    {**_public(m), "received_at": m["last_message"]["received_at"]}
                    for m in messages
                ],
                "smartlead_lead_categories": [_public(c) for c in self.categories],
            }

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        return {
            "smartlead_campaigns": ("id",),
            "smartlead_campaign_leads": ("campaign_id", "id"),
            "smartlead_inbox_replies": ("id",),
            "smartlead_lead_categories": ("id",),
        }


def _after(hidden: str, bound: float) -> t.Callable[[dict[str, t.Any]], bool]:
    return lambda lead: lead[hidden] is not None and lead[hidden] > bound


def _email_status_matches(stats: dict[str, bool], wanted: str) -> bool:
    if wanted in stats:
        return bool(stats[wanted])
    if wanted == "not_replied":
        return stats["is_opened"] and not stats["is_replied"]
    if wanted == "is_accepted":
        return not stats["is_bounced"]
    return False  # unsubscribed, spam, sender bounce: none in the seeded data



def _int_field(body: dict[str, t.Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{name} must be an integer")
    return value


def _id_list(value: t.Any, name: str) -> list[int] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise ApiError(422, f"filters.{name} must hold numbers") from None
