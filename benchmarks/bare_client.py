"""The yardstick: a bare stdlib client that fetches the tap's pages and writes RECORD lines.

It replays the exact requests a tap sync made (a JSON list written by run.py from the sandbox's
request log), so both sides read the same pages: one keep-alive `http.client` connection,
`json.loads` per page, and `json.dumps` of a Singer RECORD message per record to stdout. No
schema, no type conformance, no state: the least a Singer tap can do with the same data.

    python benchmarks/bare_client.py BASE_URL REQUESTS.json [AUTH.json] > /dev/null
A summary (records, requests, per-listing page sizes and totals) goes to stderr as one JSON line.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import sys
import typing as t
from urllib.parse import urlencode, urlsplit


def page_records(payload: t.Any) -> tuple[list[t.Any], int | None]:
    """A page's records and its total if the API sent one, for any of the providers' shapes."""
    if isinstance(payload, list):
        return payload, None
    if not isinstance(payload, dict):
        return [], None
    total = payload.get("total", payload.get("total_count"))
    pagination = payload.get("pagination")
    if total is None and isinstance(pagination, dict):
        total = pagination.get("total")
    for value in payload.values():
        if isinstance(value, list) and (not value or isinstance(value[0], dict)):
            return value, total if isinstance(total, int) else None
    return [], total if isinstance(total, int) else None


def main(argv: list[str]) -> int:
    base_url, requests_path = argv[0], argv[1]
    auth: dict[str, dict[str, str]] = {}
    if len(argv) > 2:
        with open(argv[2], encoding="utf-8") as handle:
            auth = json.load(handle)
    with open(requests_path, encoding="utf-8") as handle:
        wanted: list[dict[str, t.Any]] = json.load(handle)

    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80)
    out = sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    records = 0
    for item in wanted:
        query = urlencode(item.get("query") or {}, doseq=True)
        target = item["path"] + (f"?{query}" if query else "")
        headers = dict(auth.get(item.get("provider", ""), {}))
        body = None
        if item.get("body") is not None:
            body = json.dumps(item["body"]).encode()
            headers["Content-Type"] = "application/json"
        connection.request(item.get("method", "GET"), target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"bare client: {response.status} for {item['path']}")
        rows, _total = page_records(json.loads(data))
        stream = item["path"]
        extracted = dt.datetime.now(dt.timezone.utc).isoformat()
        for row in rows:
            out.write(dumps({"type": "RECORD", "stream": stream, "record": row,
                             "time_extracted": extracted}))
            out.write("\n")
        records += len(rows)
    out.flush()
    connection.close()
    sys.stderr.write(json.dumps({"records": records, "requests": len(wanted)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
