"""tap-replies benchmarks: CPU per record, memory, requests, rate-limit pacing, the ELT pipeline.

    .venv/bin/python benchmarks/run.py           # the full run (medians of 3), writes BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick   # a smoke run: ~20k records, 1 run, prints only

Every tap run is the real CLI in a child process, so its CPU time and peak RSS come from the
kernel's accounting of that one process (os.wait4), never from the benchmark or the sandbox. Where
the sandbox's CPU could be counted it runs as its own process (`python -m tap_replies.sandbox`);
where its request log is needed (requests, pacing) it runs in a thread of this process and only
the tap's wall time and the server's log are read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

from tap_replies.sandbox import Sandbox  # noqa: E402
from tap_replies.sandbox.core import Request  # noqa: E402
from tap_replies.sandbox.server import EMULATORS  # noqa: E402
from tap_replies.tap import PROVIDERS  # noqa: E402

RESULTS_START = "<!-- results:start (written by benchmarks/run.py) -->"
RESULTS_END = "<!-- results:end -->"

# The largest page each paged endpoint allows (provider docs in shared/api-docs); anything not
# listed here, or requested with no page/offset parameter, is one request per listing.
MAX_PAGE_SIZE: list[tuple[str, re.Pattern[str], int]] = [
    ("tuco", re.compile(r"^/api/replies/?$"), 100),
    ("smartlead", re.compile(r"^/api/v1/campaigns/[^/]+/leads/?$"), 100),
    ("smartlead", re.compile(r"^/api/v1/master-inbox/inbox-replies/?$"), 20),
]
PAGING_KEYS = ("page", "offset", "cursor", "limit")
# Tuco is paged by lowering `dateTo` to the oldest reply read (the tap's TimeCursorPaginator): a
# page of the same listing, not a listing of its own.
TIME_CURSOR_KEYS = {"tuco": ("dateTo",)}


# -- child processes ------------------------------------------------------------------------


@dataclass
class Proc:
    """What the kernel says one child process cost."""

    wall: float
    user: float
    system: float
    maxrss_mb: float
    returncode: int
    stderr: str = ""

    @property
    def cpu(self) -> float:
        return self.user + self.system


def _launch(cmd: list[str], result: Path, **popen: t.Any) -> subprocess.Popen[bytes]:
    """Start `cmd` through measure.py, which records its CPU, peak RSS and wall time."""
    popen.setdefault("cwd", ROOT)
    return subprocess.Popen([PY, "-S", str(HERE / "measure.py"), str(result), *cmd], **popen)


def _collect(launcher: subprocess.Popen[bytes], result: Path, stderr: t.IO[bytes]) -> Proc:
    launcher.wait()
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")
    try:
        usage = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Proc(0.0, 0.0, 0.0, 0.0, launcher.returncode or 1, text)
    finally:
        result.unlink(missing_ok=True)
    return Proc(usage["wall"], usage["user"], usage["system"], usage["maxrss_kb"] / 1024,
                usage["returncode"], text)


def run_child(
    cmd: list[str],
    *,
    stdout: t.Any = subprocess.DEVNULL,
    stdin: t.Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Proc:
    handle, name = tempfile.mkstemp(suffix=".json", prefix="tap-bench-usage-")
    os.close(handle)
    with tempfile.TemporaryFile() as err:
        launcher = _launch(cmd, Path(name), stdin=stdin, stdout=stdout, stderr=err, env=env,
                           cwd=cwd)
        return _collect(launcher, Path(name), err)


def check(proc: Proc, what: str) -> Proc:
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{what} failed with exit code {proc.returncode}:\n{tail}")
    return proc


def tap_command(config: Path, *, state: Path | None = None, variant: bool = False) -> list[str]:
    cli = Path(PY).parent / "tap-replies"
    cmd = [PY, str(HERE / "tap_variant.py")] if variant or not cli.exists() else [str(cli)]
    cmd += ["--config", str(config)]
    if state is not None:
        cmd += ["--state", str(state)]
    return cmd


def metric_records(stderr: str) -> int:
    """Records the tap says it emitted (the SDK's record_count metrics, summed)."""
    total = 0
    for match in re.finditer(r'METRIC: (\{.*"metric":\s*"record_count".*\})', stderr):
        try:
            total += int(json.loads(match.group(1))["value"])
        except (ValueError, KeyError):
            continue
    return total


class SandboxProcess:
    """`python -m tap_replies.sandbox` as a child, so its CPU is never counted as the tap's."""

    def __init__(self, seed: int, scale: int, rates: dict[str, float] | None = None,
                 only: str | None = None, leadterra_shape: str | None = None) -> None:
        cmd = [PY, "-m", "tap_replies.sandbox", "--port", "0", "--seed", str(seed),
               "--scale", str(scale)]
        cmd += ["--only", only] if only else []
        cmd += ["--leadterra-shape", leadterra_shape] if leadterra_shape else []
        for provider, rpm in (rates or {}).items():
            cmd += ["--rate", f"{provider}={rpm:g}"]
        started = time.perf_counter()
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.stop()
            raise SystemExit(f"sandbox did not start: {cmd}")
        self.startup_seconds = time.perf_counter() - started

    def cpu_seconds(self) -> float:
        """CPU the server has used so far (from /proc; 0 where there is none)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- configs --------------------------------------------------------------------------------


def provider_config(base_url: str, providers: t.Iterable[str],
                    rpm: float | None = None) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {}
    for emulator_class in EMULATORS:
        if emulator_class.name in providers:
            block = emulator_class(seed=1, scale=1).config(base_url)
            block["requests_per_minute"] = rpm
            config[emulator_class.name] = block
    return config


def auth_headers() -> dict[str, dict[str, str]]:
    """Header auth per provider (Smartlead's key rides in the logged query string already)."""
    return {cls.name: {"Authorization": f"Bearer {cls.api_key}"}
            for cls in EMULATORS if cls.name != "smartlead"}


def write_json(directory: Path, name: str, value: t.Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def stream_names(providers: t.Iterable[str]) -> list[str]:
    return [cls.name for p in providers for cls in PROVIDERS[p].streams]


def records_at(seed: int, scale: int, providers: t.Sequence[str]) -> int:
    names = set(stream_names(providers))
    sandbox = Sandbox(seed=seed, scale=scale)
    try:
        return sum(len(rows) for name, rows in sandbox.ground_truth().items() if name in names)
    finally:
        sandbox._server.server_close()


def scale_for(records: int, seed: int, providers: t.Sequence[str]) -> tuple[int, int]:
    """The smallest sandbox scale with at least `records` records; sizes are linear in scale."""
    one, two = records_at(seed, 1, providers), records_at(seed, 2, providers)
    per_unit = max(1, two - one)
    fixed = one - per_unit
    scale = max(1, math.ceil((records - fixed) / per_unit))
    return scale, fixed + per_unit * scale


# -- requests: what a sync asked for vs the least the APIs allow ------------------------------


def _without_paging(value: t.Any, provider: str = "") -> t.Any:
    if isinstance(value, dict):
        skip = (*PAGING_KEYS, *TIME_CURSOR_KEYS.get(provider, ()))
        return json.dumps({k: v for k, v in value.items() if k not in skip}, sort_keys=True)
    return json.dumps(value, sort_keys=True)


def _paged(logged: t.Any) -> bool:
    keys = set(logged.query)
    if isinstance(logged.body, dict):
        keys |= set(logged.body)
    return bool(keys & {"page", "offset", "cursor"})


def _digest(row: t.Any) -> bytes:
    return hashlib.sha1(json.dumps(row, sort_keys=True).encode(), usedforsecurity=False).digest()


def _max_page(provider: str, path: str) -> int | None:
    for name, pattern, size in MAX_PAGE_SIZE:
        if name == provider and pattern.match(path):
            return size
    return None


def endpoint_name(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


@dataclass
class RequestCount:
    actual: int = 0
    minimum: int = 0
    failed: int = 0
    records: int = 0


def analyse_requests(sandbox: Sandbox, log: list[t.Any]) -> dict[str, RequestCount]:
    """Per endpoint: successful requests made, and the fewest that return the same records.

    Requests are grouped into listings (same endpoint and filters, any page). A listing whose
    pages carry a total needs ceil(total / max page size) requests (at least one); one without a
    total needs one more than its full pages, because only a short page says it was the last.
    Records are counted once however many pages returned them.
    """
    headers = {name: {k.lower(): v for k, v in h.items()} for name, h in auth_headers().items()}
    listings: dict[tuple[str, ...], dict[str, t.Any]] = {}
    counts: dict[str, RequestCount] = defaultdict(RequestCount)
    for logged in log:
        endpoint = f"{logged.provider} {logged.method} {endpoint_name(logged.path)}"
        if logged.status != 200:
            counts[endpoint].failed += 1
            continue
        counts[endpoint].actual += 1
        key = (endpoint, logged.path, _without_paging(logged.query, logged.provider),
               _without_paging(logged.body, logged.provider))
        listing = listings.setdefault(key, {"endpoint": endpoint, "records": 0, "total": None,
                                            "paged": False, "pages": set(), "path": logged.path,
                                            "provider": logged.provider, "seen": set()})
        listing["paged"] = listing["paged"] or _paged(logged)
        page_key = json.dumps([logged.query, logged.body], sort_keys=True)
        if page_key in listing["pages"]:
            continue  # the same page twice: counted as made, adds nothing to the minimum
        listing["pages"].add(page_key)
        body = json.dumps(logged.body).encode() if logged.body is not None else b""
        request = Request(logged.method, logged.path, logged.query,
                          dict(headers.get(logged.provider, {})), body)
        _, response = sandbox.dispatch(request)
        payload = getattr(response, "body", None)
        rows, total = _page_records(payload)
        fresh = {_digest(row) for row in rows} - listing["seen"]
        listing["seen"] |= fresh
        listing["records"] += len(fresh)
        if total is not None and listing["total"] is None:
            listing["total"] = total
    for listing in listings.values():
        count = counts[listing["endpoint"]]
        count.records += listing["records"]
        size = _max_page(listing["provider"], listing["path"])
        if not listing["paged"] or size is None:
            count.minimum += 1
        elif listing["total"] is not None:
            count.minimum += max(1, math.ceil(listing["total"] / size))
        else:
            count.minimum += listing["records"] // size + 1
    return dict(counts)


def _page_records(payload: t.Any) -> tuple[list[t.Any], int | None]:
    sys.path.insert(0, str(HERE))
    from bare_client import page_records

    return page_records(payload)


def last_state(path: Path) -> dict[str, t.Any]:
    """The value of the last STATE message in a file of Singer messages."""
    state: dict[str, t.Any] = {}
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"STATE"') or b'"type": "STATE"' in line[:40]:
                state = json.loads(line)["value"]
    return state


def count_records(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if b'"type":"RECORD"' in line[:30]
                   or b'"type": "RECORD"' in line[:30])


@dataclass
class RequestsResult:
    scale: int
    providers: list[str]
    full: dict[str, RequestCount]
    incremental: dict[str, RequestCount]
    added: dict[str, t.Any]
    full_records: int
    incremental_records: int
    replay: list[dict[str, t.Any]] = field(default_factory=list)


def measure_requests(seed: int, scale: int, providers: list[str], work: Path,
                     keep_replay: bool = False) -> RequestsResult:
    """A full sync, then a small change and an incremental sync, counted at the server."""
    with Sandbox(seed=seed, scale=scale) as sandbox:
        config = write_json(work, "requests-config.json",
                            provider_config(sandbox.base_url, providers))
        out = work / "requests-full.jsonl"
        with out.open("wb") as handle:
            check(run_child(tap_command(config), stdout=handle), "full sync (requests)")
        full_log = list(sandbox.request_log)
        full = analyse_requests(sandbox, full_log)
        replay = [{"provider": r.provider, "method": r.method, "path": r.path, "query": r.query,
                   "body": r.body} for r in full_log if r.status == 200] if keep_replay else []
        full_records = count_records(out)
        state = write_json(work, "requests-state.json", last_state(out))
        out.unlink()

        added = sandbox.add_activity(5)
        added = {p: v for p, v in added.items() if p in providers}
        sandbox.clear_log()
        out = work / "requests-incremental.jsonl"
        with out.open("wb") as handle:
            check(run_child(tap_command(config, state=state), stdout=handle), "incremental sync")
        incremental_log = list(sandbox.request_log)
        incremental = analyse_requests(sandbox, incremental_log)
        incremental_records = count_records(out)
        out.unlink()
    return RequestsResult(scale, providers, full, incremental, added, full_records,
                          incremental_records, replay)


# -- CPU and memory ---------------------------------------------------------------------------


@dataclass
class CpuRun:
    tap: Proc
    tap_records: int
    bare: Proc | None = None
    bare_records: int = 0
    server_cpu_tap: float = 0.0
    server_cpu_bare: float = 0.0


def run_bare(base_url: str, replay: Path, auth: Path) -> tuple[Proc, int]:
    proc = check(run_child([PY, str(HERE / "bare_client.py"), base_url, str(replay), str(auth)]),
                 "bare client")
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc, int(summary["records"])


def run_tap_cpu(base_url: str, providers: list[str], work: Path, patches: str = "",
                variant: bool = False) -> tuple[Proc, int]:
    config = write_json(work, "cpu-config.json", provider_config(base_url, providers))
    env = dict(os.environ, TAP_BENCH_PATCHES=patches)
    proc = check(run_child(tap_command(config, variant=variant or bool(patches)), env=env),
                 f"tap sync {patches or ''}".strip())
    return proc, metric_records(proc.stderr)


def per_10k(cpu: float, records: int) -> float:
    return cpu / records * 10_000 if records else float("nan")


def median(values: t.Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


# -- the rate-limited sync --------------------------------------------------------------------


@dataclass
class RateRun:
    wall: float
    span: float
    ok: int
    limited: int
    other: int


def measure_rate(seed: int, scale: int, provider: str, rpm: float, work: Path) -> RateRun:
    with Sandbox(seed=seed, scale=scale, rates={provider: rpm}) as sandbox:
        config = write_json(work, "rate-config.json",
                            provider_config(sandbox.base_url, [provider], rpm=rpm))
        proc = check(run_child(tap_command(config)), "rate-limited sync")
        log = list(sandbox.request_log)
    ok = sum(1 for r in log if r.status == 200)
    limited = sum(1 for r in log if r.status == 429)
    span = log[-1].at - log[0].at if log else 0.0
    return RateRun(proc.wall, span, ok, limited, len(log) - ok - limited)


# -- the ELT pipeline -------------------------------------------------------------------------


def find_target(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    candidates = [
        ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "target-duckdb",
        Path(PY).parent / "target-duckdb",
    ]
    return next((c for c in candidates if c.exists()), None)


@dataclass
class PipelineRun:
    wall: float
    tap: Proc
    target: Proc
    rows: int | None


def fresh_target_config(work: Path) -> tuple[Path, Path]:
    """A target config writing to an empty DuckDB file, so every run creates its tables."""
    database = work / "bench.duckdb"
    for stale in work.glob("bench.duckdb*"):
        stale.unlink()
    config = write_json(work, "target-config.json",
                        {"filepath": str(database), "default_target_schema": "bench"})
    return config, database


def measure_target_alone(target: Path, feed: Path, work: Path) -> tuple[Proc, int | None]:
    """The loader reading a saved tap output from a file: its speed with an infinitely fast tap."""
    target_config, database = fresh_target_config(work)
    with feed.open("rb") as handle:
        proc = check(run_child([str(target), "-c", str(target_config)], stdin=handle, cwd=work),
                     "target-duckdb (alone)")
    return proc, _count_rows(database)


def measure_pipeline(base_url: str, providers: list[str], target: Path, work: Path,
                     patches: str = "") -> PipelineRun:
    config = write_json(work, "pipe-config.json", provider_config(base_url, providers))
    target_config, database = fresh_target_config(work)
    env = dict(os.environ, TAP_BENCH_PATCHES=patches)
    tap_result, target_result = work / "pipe-tap.json", work / "pipe-target.json"
    with tempfile.TemporaryFile() as tap_err, tempfile.TemporaryFile() as target_err:
        started = time.perf_counter()
        tap = _launch(tap_command(config, variant=bool(patches)), tap_result,
                      stdout=subprocess.PIPE, stderr=tap_err, env=env)
        loader = subprocess.Popen(
            [PY, "-S", str(HERE / "measure.py"), str(target_result), str(target), "-c",
             str(target_config)],
            stdin=tap.stdout, stdout=subprocess.DEVNULL, stderr=target_err, cwd=work)
        assert tap.stdout is not None
        tap.stdout.close()  # the loader holds the only read end, so a dead loader stops the tap
        tap_proc = _collect(tap, tap_result, tap_err)
        target_proc = _collect(loader, target_result, target_err)
        wall = time.perf_counter() - started
    check(tap_proc, "tap (pipeline)")
    check(target_proc, "target-duckdb (pipeline)")
    return PipelineRun(wall, tap_proc, target_proc, _count_rows(database))


def _count_rows(database: Path) -> int | None:
    try:
        import duckdb

        with duckdb.connect(str(database), read_only=True) as con:
            tables = con.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables"
            ).fetchall()
            return sum(int(con.execute(f'select count(*) from "{c}"."{s}"."{n}"').fetchone()[0])
                       for c, s, n in tables)
    except Exception:
        return None


# -- profiling --------------------------------------------------------------------------------


def profile_tap(base_url: str, providers: list[str], work: Path, patches: str = "",
                top: int = 25) -> str:
    import io
    import pstats

    config = write_json(work, "profile-config.json", provider_config(base_url, providers))
    output = work / "tap.prof"
    env = dict(os.environ, TAP_BENCH_PATCHES=patches)
    cmd = [PY, "-m", "cProfile", "-o", str(output), str(HERE / "tap_variant.py"),
           "--config", str(config)]
    check(run_child(cmd, env=env), "profiled tap")
    text = io.StringIO()
    stats = pstats.Stats(str(output), stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


# -- the machine ------------------------------------------------------------------------------


def machine(target: Path | None) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("singer-sdk", "msgspec", "duckdb", "requests"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    target_version = "not installed"
    if target is not None:
        found = sorted(target.parent.parent.glob("lib/python*/site-packages/target_duckdb-*"))
        target_version = found[0].name.split("-")[1].removesuffix(".dist") if found else "installed"
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
        "target-duckdb": target_version,
    }


# -- the run ----------------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in rows]
    return "\n".join([line, rule, *body])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


EXPERIMENTS = [
    ("baseline (tap-replies as is)", ""),
    ("SDK default writer (simplejson), not MsgSpecWriter", "sdk_writer"),
    ("no flush per RECORD", "no_flush"),
    ("every record conformed RECURSIVE (the SDK default)", "conform_recursive"),
    ("every record conformed ROOT_ONLY", "conform_root"),
    ("no conformance at all (NONE)", "conform_none"),
]


def records_digest(path: Path) -> tuple[int, str]:
    """RECORD messages of a run, minus time_extracted: equal digests mean equal output."""
    import hashlib

    digest = hashlib.sha256()
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            message = json.loads(line)
            if message.get("type") != "RECORD":
                continue
            message.pop("time_extracted", None)
            digest.update(json.dumps(message, sort_keys=True).encode())
            count += 1
    return count, digest.hexdigest()[:12]


def equivalence(seed: int, scale: int, work: Path) -> dict[str, tuple[int, str]]:
    """Each variant's records for every provider's streams at a small scale."""
    found: dict[str, tuple[int, str]] = {}
    providers = [p for p in PROVIDERS if stream_names([p])]
    with SandboxProcess(seed, scale) as server:
        config = write_json(work, "equal-config.json", provider_config(server.base_url, providers))
        for label, patches in EXPERIMENTS:
            out = work / "equal.jsonl"
            env = dict(os.environ, TAP_BENCH_PATCHES=patches)
            with out.open("wb") as handle:
                check(run_child(tap_command(config, variant=True), stdout=handle, env=env),
                      f"equivalence run {patches}")
            found[label] = records_digest(out)
            out.unlink()
    return found



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="~20k records, 1 run, short rate test; prints only")
    parser.add_argument("--runs", type=int, help="runs per measurement, median reported (3)")
    parser.add_argument("--records", type=int, help="records for the CPU test (200000)")
    parser.add_argument("--provider", default="tuco", choices=sorted(PROVIDERS),
                        help="provider whose streams make the CPU workload (tuco)")
    parser.add_argument("--heavy-runs", type=int,
                        help="runs of the 3x-data sync, the pipeline and each experiment (1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate-seconds", type=float, help="length of the rate-limited sync (30)")
    parser.add_argument("--rpm", type=float,
                        help="rate limit, default the provider's documented one")
    parser.add_argument("--sections",
                        default="requests,cpu,rss,list-rss,rate,pipeline,experiments,profile",
                        help="comma list of: requests,cpu,rss,list-rss,rate,pipeline,"
                             "experiments,profile")
    parser.add_argument("--requests-scale", type=int, default=2,
                        help="sandbox scale of the all-providers request count (2)")
    parser.add_argument("--target", help="the target-duckdb executable (default: Meltano's)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"),
                        help="file to write the results into ('-' for none)")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    heavy_runs = args.heavy_runs or 1
    target_records = args.records or (20_000 if args.quick else 200_000)
    rate_seconds = args.rate_seconds or (10.0 if args.quick else 30.0)
    sections = set(args.sections.split(","))
    write_file = args.output != "-" and not args.quick
    providers = [args.provider]
    if not stream_names(providers):
        raise SystemExit(f"provider {args.provider} has no streams yet")

    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    report: list[str] = []
    started = time.perf_counter()

    def say(text: str = "") -> None:
        print(text, flush=True)
        report.append(text)

    target = find_target(args.target)
    info = machine(target)
    scale, expected = scale_for(target_records, args.seed, providers)
    say(f"Machine: {info['cpus']} x {info['cpu_model']}; {info['os']}")
    say(f"Python {info['python']}, singer-sdk {info['singer-sdk']}, msgspec {info['msgspec']}, "
        f"duckdb {info['duckdb']}, requests {info['requests']}, "
        f"target-duckdb {info['target-duckdb']}")
    say(f"Command: `{command.strip()}` ({runs} run(s) per figure, median shown; "
        f"{heavy_runs} of the 3x-data sync, the pipeline and each experiment)")
    say(f"Workload: {', '.join(stream_names(providers))} at sandbox seed {args.seed} scale {scale} "
        f"(~{expected:,} records), sandbox in its own process, tap output to /dev/null")
    say()

    summary: dict[str, t.Any] = {}
    with tempfile.TemporaryDirectory(prefix="tap-bench-") as tmp:
        work = Path(tmp)
        replay_path: Path | None = None
        requests_full: RequestsResult | None = None

        if {"requests", "cpu", "experiments"} & sections:
            # One counted full sync at the benchmark scale: its requests are also what the bare
            # client replays, so both sides read exactly the same pages.
            requests_full = measure_requests(args.seed, scale, providers, work, keep_replay=True)
            replay_path = write_json(work, "replay.json", requests_full.replay)
            write_json(work, "auth.json", auth_headers())

        if "requests" in sections and requests_full is not None:
            all_providers = [p for p in PROVIDERS if stream_names([p])]
            everything = measure_requests(args.seed, args.requests_scale, all_providers, work)
            say("## Requests: full sync, and incremental after a small change")
            rows = []
            for label, result in ((f"{args.provider}, scale {scale}", requests_full),
                                  (f"all providers, scale {args.requests_scale}", everything)):
                for phase, counts in (("full", result.full), ("incremental", result.incremental)):
                    for endpoint, c in sorted(counts.items()):
                        rows.append([label, phase, endpoint, str(c.records), str(c.actual),
                                     str(c.minimum), str(c.actual - c.minimum), str(c.failed)])
            say(table(["sandbox", "sync", "endpoint", "records", "requests", "minimum", "excess",
                       "non-200"], rows))
            for label, result in (("workload", requests_full), ("all providers", everything)):
                say(f"{label}: full sync emitted {result.full_records:,} records; after "
                    f"add_activity(5) ({json.dumps(result.added)}) the incremental sync emitted "
                    f"{result.incremental_records:,}")
            excess = sum(c.actual - c.minimum for r in (requests_full, everything)
                         for counts in (r.full, r.incremental) for c in counts.values())
            summary["requests_excess"] = excess
            say(f"Target requests = minimum: {verdict(excess <= 0)} (excess {excess})")
            say()

        cpu_runs: list[CpuRun] = []
        if {"cpu", "rss"} & sections and replay_path is not None:
            with SandboxProcess(args.seed, scale) as server:
                for _ in range(runs):
                    before = server.cpu_seconds()
                    tap_proc, tap_records = run_tap_cpu(server.base_url, providers, work)
                    between = server.cpu_seconds()
                    bare_proc, bare_records = run_bare(server.base_url, replay_path,
                                                       work / "auth.json")
                    cpu_runs.append(CpuRun(tap_proc, tap_records, bare_proc, bare_records,
                                           between - before, server.cpu_seconds() - between))
            tap_cpu10k = median(per_10k(r.tap.cpu, r.tap_records) for r in cpu_runs)
            bare_cpu10k = median(per_10k(r.bare.cpu, r.bare_records) for r in cpu_runs if r.bare)
            ratio = tap_cpu10k / bare_cpu10k
            summary.update(tap_cpu10k=tap_cpu10k, bare_cpu10k=bare_cpu10k, cpu_ratio=ratio)
            say(f"## CPU: full sync to /dev/null, {cpu_runs[0].tap_records:,} records")
            rows = []
            for name, procs, counts, server_cpu in (
                ("tap-replies", [r.tap for r in cpu_runs], [r.tap_records for r in cpu_runs],
                 [r.server_cpu_tap for r in cpu_runs]),
                ("bare client", [r.bare for r in cpu_runs if r.bare],
                 [r.bare_records for r in cpu_runs], [r.server_cpu_bare for r in cpu_runs]),
            ):
                rows.append([
                    name, f"{counts[0]:,}",
                    fmt(median(c / p.wall for p, c in zip(procs, counts, strict=True)), 0),
                    fmt(median(c / p.cpu for p, c in zip(procs, counts, strict=True)), 0),
                    fmt(median(per_10k(p.cpu, c) for p, c in zip(procs, counts, strict=True)), 3),
                    fmt(median(p.wall for p in procs)), fmt(median(p.cpu for p in procs)),
                    fmt(median(p.maxrss_mb for p in procs), 0), fmt(median(server_cpu), 1),
                ])
            say(table(["client", "records", "records/s (wall)", "records/CPU-s", "CPU-s/10k",
                       "wall s", "CPU s", "peak RSS MB", "sandbox CPU s"], rows))
            say(f"tap CPU per record = {ratio:.2f}x the bare client; target <= 2x: "
                f"{verdict(ratio <= 2.0)}")
            say("(wall time is bounded by the sandbox, a Python server sharing the "
                f"{info['cpus']} CPUs: see its CPU column; CPU-s are the client process's own)")
            if cpu_runs[0].tap_records != cpu_runs[0].bare_records:
                say(f"note: tap emitted {cpu_runs[0].tap_records:,} records, the bare client read "
                    f"{cpu_runs[0].bare_records:,}")
            say()

        if "rss" in sections and cpu_runs:
            rss_1x = median(r.tap.maxrss_mb for r in cpu_runs)
            big: list[tuple[Proc, int]] = []
            with SandboxProcess(args.seed, scale * 3) as server:
                big.extend(run_tap_cpu(server.base_url, providers, work)
                           for _ in range(heavy_runs))
            rss_3x = median(p.maxrss_mb for p, _ in big)
            growth = (rss_3x / rss_1x - 1) * 100
            summary.update(rss_1x=rss_1x, rss_3x=rss_3x, rss_growth=growth)
            say("## Memory: peak RSS of the tap when the data triples")
            say(table(["data", "records", "peak RSS MB", "CPU-s/10k"], [
                ["1x", f"{cpu_runs[0].tap_records:,}", fmt(rss_1x, 1),
                 fmt(median(per_10k(r.tap.cpu, r.tap_records) for r in cpu_runs), 3)],
                ["3x", f"{big[0][1]:,}", fmt(rss_3x, 1),
                 fmt(median(per_10k(p.cpu, n) for p, n in big), 3)],
            ]))
            say(f"growth {growth:+.1f}%; target < 25%: {verdict(growth < 25)}")
            # Two sizes separate the per-record cost from the fixed one (imports, discovery).
            small_cpu = median(r.tap.cpu for r in cpu_runs)
            small_n = cpu_runs[0].tap_records
            big_cpu, big_n = median(p.cpu for p, _ in big), big[0][1]
            if big_n > small_n:
                marginal = (big_cpu - small_cpu) / (big_n - small_n) * 10_000
                fixed = small_cpu - marginal * small_n / 10_000
                summary.update(tap_marginal10k=marginal, tap_fixed=fixed)
                say(f"from the two sizes: {marginal:.3f} CPU-s per 10k records plus "
                    f"{fixed:.2f} CPU-s fixed per run (start-up, imports)")
            say()

        if "list-rss" in sections:
            import list_memory  # benchmarks/list_memory.py: Leadterra's unpaged list, 1x-10x

            for line in list_memory.section(args.seed, runs):
                say(line)
            say()

        if "rate" in sections:
            provider = args.provider
            rpm = args.rpm or PROVIDERS[provider].spec.requests_per_minute or 120
            wanted_requests = rpm / 60.0 * rate_seconds
            if requests_full is not None:
                per_scale = sum(c.actual for c in requests_full.full.values()) / scale
            else:
                per_scale = max(1.0, expected / scale / 100)
            rate_scale = max(1, round(wanted_requests / per_scale))
            rate_runs = [measure_rate(args.seed, rate_scale, provider, rpm, work)
                         for _ in range(runs)]
            floor = median(r.ok for r in rate_runs) / (rpm / 60.0)
            wall = median(r.wall for r in rate_runs)
            span = median(r.span for r in rate_runs)
            limited = median(r.limited for r in rate_runs)
            share = median(r.limited / max(1, r.ok + r.limited + r.other) for r in rate_runs)
            summary.update(rate_ratio=wall / floor, rate_429_share=share)
            say(f"## Rate-limited sync: sandbox --rate {provider}={rpm:g}, tap "
                f"{provider}.requests_per_minute={rpm:g}, scale {rate_scale}")
            say(table(["requests (200)", "429s", "other errors", "floor s", "tap wall s",
                       "wall / floor", "first->last request s", "span / floor"], [[
                str(int(median(r.ok for r in rate_runs))), str(int(limited)),
                str(int(median(r.other for r in rate_runs))), fmt(floor, 1), fmt(wall, 1),
                fmt(wall / floor, 3), fmt(span, 1), fmt(span / floor, 3)]]))
            say(f"target wall <= 1.1x floor: {verdict(wall / floor <= 1.1)}; "
                f"429s {share * 100:.2f}% of requests, target <= 1%: {verdict(share <= 0.01)}")
            say("(the floor is requests / allowed rate; both buckets start with a 2-second burst, "
                "so a run can beat it slightly; the tap wall includes ~1 s of Python start-up)")
            say()

        if "pipeline" in sections:
            say("## Pipeline: tap-replies -> target-duckdb")
            if target is None:
                say("skipped: target-duckdb is not installed (run `meltano install` first, or pass "
                    "--target PATH; looked in .meltano/loaders/target-duckdb/venv/bin and the "
                    "tap's venv)")
            else:
                pipes = []
                alone: list[tuple[Proc, int | None]] = []
                feed = work / "pipe-input.jsonl"
                with SandboxProcess(args.seed, scale) as server:
                    config = write_json(work, "feed-config.json",
                                        provider_config(server.base_url, providers))
                    with feed.open("wb") as handle:
                        fed = check(run_child(tap_command(config), stdout=handle), "tap (feed)")
                    for _ in range(heavy_runs):
                        alone.append(measure_target_alone(target, feed, work))
                        pipes.append(measure_pipeline(server.base_url, providers, target, work))
                feed.unlink()
                records = expected if not cpu_runs else cpu_runs[0].tap_records
                wall = median(p.wall for p in pipes)
                tap_cpu = median(p.tap.cpu for p in pipes)
                target_cpu = median(p.target.cpu for p in pipes)
                # Without the CPU section, the run that saved the feed stands in for the tap alone.
                tap_alone = median(r.tap.wall for r in cpu_runs) if cpu_runs else fed.wall
                tap_alone_cpu = median(r.tap.cpu for r in cpu_runs) if cpu_runs else fed.cpu
                if not cpu_runs:
                    records = metric_records(fed.stderr)
                target_alone = median(p.wall for p, _ in alone)
                say(table(["run", "records", "rows loaded", "wall s", "records/s", "tap CPU s",
                           "target CPU s", "target peak RSS MB"], [
                    ["tap -> target-duckdb", f"{records:,}",
                     str(pipes[0].rows if pipes[0].rows is not None else "n/a"), fmt(wall, 1),
                     fmt(records / wall, 0), fmt(tap_cpu, 1), fmt(target_cpu, 1),
                     fmt(median(p.target.maxrss_mb for p in pipes), 0)],
                    ["tap alone (> /dev/null)", f"{records:,}", "-", fmt(tap_alone, 1),
                     fmt(records / tap_alone, 0),
                     fmt(tap_alone_cpu, 1), "-", "-"],
                    ["target alone (< file)", f"{records:,}",
                     str(alone[0][1] if alone[0][1] is not None else "n/a"), fmt(target_alone, 1),
                     fmt(records / target_alone, 0), "-",
                     fmt(median(p.cpu for p, _ in alone), 1),
                     fmt(median(p.maxrss_mb for p, _ in alone), 0)],
                ]))
                side = "target-duckdb" if target_alone > tap_alone else "the tap (with the sandbox)"
                overlap = (tap_alone + target_alone - wall) / max(1e-9, min(tap_alone,
                                                                             target_alone))
                if overlap < 0.1:
                    how = ("the two sides hardly overlap: target-duckdb buffers rows (up to its "
                           "batch_size_rows, 100,000 by default) and loads them after, so the "
                           "pipeline takes about the sum of the two")
                else:
                    how = (f"the two sides overlap for {min(overlap, 1.0) * 100:.0f}% of the "
                           "shorter one's time")
                say(f"bottleneck: {side}: the pipeline takes {wall:.1f} s; the tap alone "
                    f"{tap_alone:.1f} s (bounded by the sandbox sharing the {info['cpus']} CPUs), "
                    f"the loader alone {target_alone:.1f} s; {how}.")
                summary.update(pipeline_rps=records / wall, bottleneck=side)
            say()

        if "experiments" in sections:
            say("## Experiments: the same sync with benchmark-only patches "
                "(benchmarks/tap_variant.py)")
            bare_cpu10k = summary.get("bare_cpu10k")
            results: dict[str, list[float]] = defaultdict(list)
            rss: dict[str, list[float]] = defaultdict(list)
            with SandboxProcess(args.seed, scale) as server:
                if bare_cpu10k is None and replay_path is not None:
                    bare = [run_bare(server.base_url, replay_path, work / "auth.json")
                            for _ in range(runs)]
                    bare_cpu10k = median(per_10k(p.cpu, n) for p, n in bare)
                for _ in range(heavy_runs):
                    for label, patches in EXPERIMENTS:
                        proc, records = run_tap_cpu(server.base_url, providers, work, patches,
                                                    variant=True)
                        results[label].append(per_10k(proc.cpu, records))
                        rss[label].append(proc.maxrss_mb)
            base = median(results[EXPERIMENTS[0][0]])
            same = equivalence(args.seed, args.requests_scale, work)
            rows = [[label, patches or "-", fmt(median(results[label]), 3),
                     f"{(median(results[label]) / base - 1) * 100:+.0f}%",
                     fmt(median(results[label]) / bare_cpu10k, 2) if bare_cpu10k else "n/a",
                     fmt(median(rss[label]), 0),
                     "yes" if same[label] == same[EXPERIMENTS[0][0]] else
                     f"NO ({same[label][0]} records)"] for label, patches in EXPERIMENTS]
            say(table(["variant", "TAP_BENCH_PATCHES", "CPU-s/10k", "vs baseline", "x bare",
                       "peak RSS MB", "same records"], rows))
            say(f"(same records: every RECORD but time_extracted equal to the baseline's, all "
                f"providers' streams at scale {args.requests_scale}, "
                f"{same[EXPERIMENTS[0][0]][0]} records)")
            say()

        if "profile" in sections:
            with SandboxProcess(args.seed, scale) as server:
                text = profile_tap(server.base_url, providers, work)
            say("## Profile of the tap as is (cProfile, top functions by own time)")
            say("```")
            say(text)
            say("```")
            say()

    if {"cpu_ratio", "rate_ratio", "requests_excess", "rss_growth"} & set(summary):
        say("## Targets (issue 8)")
        rows = []
        if "cpu_ratio" in summary:
            rows.append(["tap CPU per record <= 2x the bare client",
                         f"{summary['cpu_ratio']:.2f}x", verdict(summary["cpu_ratio"] <= 2)])
        if "rate_ratio" in summary:
            rows.append(["rate-limited wall <= 1.1x floor", f"{summary['rate_ratio']:.3f}x",
                         verdict(summary["rate_ratio"] <= 1.1)])
            rows.append(["429s <= 1% of requests", f"{summary['rate_429_share'] * 100:.2f}%",
                         verdict(summary["rate_429_share"] <= 0.01)])
        if "requests_excess" in summary:
            rows.append(["requests = the minimum", f"excess {summary['requests_excess']}",
                         verdict(summary["requests_excess"] <= 0)])
        if "rss_growth" in summary:
            rows.append(["peak RSS growth < 25% when data triples",
                         f"{summary['rss_growth']:+.1f}%", verdict(summary["rss_growth"] < 25)])
        say(table(["target", "measured", "verdict"], rows))
        say()
    say(f"Benchmark finished in {time.perf_counter() - started:,.0f} s "
        f"on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.")
    if write_file:
        write_results(Path(args.output), "\n".join(report))
        print(f"results written to {args.output}")
    return 0


def markdown(text: str) -> str:
    """The printed report as Markdown: a blank line wherever a table or a paragraph ends."""
    out: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and out and out[-1] and line:
            table_before, table_now = out[-1].startswith("|"), line.startswith("|")
            if table_before != table_now or not table_now:
                out.append("")
        out.append(line)
    return "\n".join(out)


def write_results(path: Path, text: str) -> None:
    """Replace the generated block of BENCHMARKS.md, keeping the hand-written parts around it."""
    block = f"{RESULTS_START}\n{markdown(text)}\n{RESULTS_END}"
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if RESULTS_START in current and RESULTS_END in current:
            head, rest = current.split(RESULTS_START, 1)
            tail = rest.split(RESULTS_END, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(current.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.write_text(f"# Benchmarks\n\n{block}\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
