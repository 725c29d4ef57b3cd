"""Profile: where the tap's CPU goes, from cProfile on the CPU clock (tap_variant.py).

The steps are read off the profile by names that do not depend on how the tap is built inside: the
SDK's sync loop (`sync_all`, `_sync_records` and what it calls per record), the libraries (requests,
urllib3, http.client: HTTP; json, ijson, msgspec decoders: JSON decoding) and the one tap hook the
SDK calls per record (`post_process`). A library's time is what it costs when entered from outside
it, so nothing is counted twice. cProfile's own overhead is larger for many small Python calls
than for a few long C ones, so the shares are approximate: a step's real cost is what removing it
saves (experiments, prototypes).
"""

from __future__ import annotations

import io
import pstats
import typing as t

from harness.children import HERE, PY, check, child_env, metric_records, run_child
from harness.context import Run
from harness.figures import fmt, per_10k
from harness.report import Block
from harness.sandbox import SandboxProcess, Workload

from sections.cpu import bare_10k

Func = tuple[str, int, str]
# A function as (file name contains, function name); "" matches any file.
Spec = tuple[str, str]
SDK_CORE = "singer_sdk/streams/core.py"
SYNC = (SDK_CORE, "_sync_records")
HTTP_FILES = ("/requests/", "/urllib3/", "/http/client.py", "/socket.py", "/ssl.py")


def is_http(func: Func) -> bool:
    """In an HTTP library (its imports, which run at start-up, aside); not the tap's own
    tap_replies/http/client.py, whose name matches the standard library's."""
    return (func[2] != "<module>" and "tap_replies" not in func[0]
            and any(part in func[0] for part in HTTP_FILES))


def is_json_decode(func: Func) -> bool:
    where, _, name = func
    return name != "<module>" and (("/json/" in where and name in ("loads", "decode", "raw_decode"))
            or "ijson" in where or "ijson" in name or "msgspec.json.Decoder" in name)


class Profile:
    def __init__(self, path: str) -> None:
        self.stats = pstats.Stats(path)
        self.raw: dict[Func, t.Any] = self.stats.stats  # type: ignore[attr-defined]
        self.total: float = self.stats.total_tt  # type: ignore[attr-defined]

    @staticmethod
    def _is(func: Func, spec: Spec) -> bool:
        where, name = spec
        return func[2] == name and (where in func[0] if where else True)

    def cumulative(self, spec: Spec) -> float:
        return sum(v[3] for f, v in self.raw.items() if self._is(f, spec))

    def own(self, spec: Spec) -> float:
        return sum(v[2] for f, v in self.raw.items() if self._is(f, spec))

    def edge(self, caller: Spec, callee: Spec) -> float:
        """Cumulative time of `callee` when called by `caller` (outermost calls only)."""
        return sum(timing[3] for f, v in self.raw.items() if self._is(f, callee)
                   for c, timing in v[4].items() if self._is(c, caller))

    def entered(self, inside: t.Callable[[Func], bool]) -> float:
        """Time in the functions `inside` picks, entered from a function it does not pick.

        A C builtin in between (`bytes.join` over requests' body generator, a buffered reader
        over a socket) is no way in: it was called from inside. Nor is a module's import."""

        def outside(caller: Func) -> bool:
            return not inside(caller) and caller[0] != "~" and caller[2] != "<module>"

        return sum(timing[3] for f, v in self.raw.items() if inside(f)
                   for c, timing in v[4].items() if outside(c))


def own_process_record(p: Profile) -> float:
    """`_process_record` without the child streams it syncs (their records count as theirs)."""
    process = ("", "_process_record")
    return p.edge(SYNC, process) - p.edge(process, ("", "_sync_children"))


def sdk_per_record(p: Profile, writer: float) -> float:
    """The SDK's own work per record in `_sync_records`, outside the tap's hook and the writer."""
    return (p.own(SYNC) + own_process_record(p)
            + p.edge(SYNC, (SDK_CORE, "_write_record_message")) - writer
            + p.edge(SYNC, ("", "_increment_stream_state")) + p.edge(SYNC, ("", "increment"))
            + p.edge(SYNC, ("", "_check_max_record_limit")))


def buckets(p: Profile) -> list[tuple[str, float]]:
    """The steps of a sync and their CPU; "the rest" is whatever no step claims."""
    http, decode = p.entered(is_http), p.entered(is_json_decode)
    writer = p.edge((SDK_CORE, "_write_record_message"), ("", "write_message"))
    found = [
        ("start-up: imports, settings, discovery", p.total - p.cumulative(("", "sync_all"))),
        ("HTTP: requests, urllib3, http.client", http),
        ("JSON decoding of pages (json, ijson, msgspec)", decode),
        ("tap per record: the post_process chain", p.edge(SYNC, ("", "post_process"))),
        ("SDK per record: _sync_records, _process_record, selection, conformance, stream "
         "maps, RecordMessage, state, metrics", sdk_per_record(p, writer)),
        ("writing RECORD messages (serialise + stdout)", writer),
        ("STATE messages (SDK copies + serialise + write)",
         p.cumulative((SDK_CORE, "_write_state_message"))),
    ]
    return [*found, ("the rest: the request path outside HTTP and JSON (get_records, paging, "
                     "pacing, parsing), the SDK's loop, logging", p.total - sum(
        seconds for _, seconds in found))]


def details(p: Profile) -> list[tuple[str, float]]:
    """Parts of the steps above that a change would target one by one."""
    generate = ("", "_generate_record_messages")
    return [
        ("SDK: _generate_record_messages (selection + conformance + maps + RecordMessage)",
         p.cumulative(generate)),
        ("SDK: pop_deselected_record_properties (selection)",
         p.cumulative(("", "pop_deselected_record_properties"))),
        ("SDK: conform_record_data_types", p.cumulative(("", "conform_record_data_types"))),
        ("SDK: stream map transform", p.edge(generate, ("", "transform"))),
        ("SDK: _process_record (partition keys, child contexts)", own_process_record(p)),
        ("records from the API: get_records (HTTP, JSON, paging, pacing, parsing)",
         p.edge(SYNC, ("", "get_records"))),
        ("SDK: _increment_stream_state", p.edge(SYNC, ("", "_increment_stream_state"))),
        ("SDK: metrics (record counter increment)", p.edge(SYNC, ("", "increment"))),
        ("SDK: _sync_records own time", p.own(SYNC)),
        ("HTTP: requests re-reading proxy settings (getproxies_environment)",
         p.cumulative(("", "getproxies_environment"))),
    ]


def top_functions(p: Profile, order: str, top: int = 15) -> str:
    """The `top` functions by `order`, leaving out those called once (the CLI's call chain down
    to the sync loop, which heads the cumulative list and says nothing)."""
    text = io.StringIO()
    p.stats.stream = text  # type: ignore[attr-defined]
    p.stats.strip_dirs().sort_stats(order).print_stats(top + 40)  # last: strip_dirs merges names
    lines = [line.rstrip() for line in text.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    rows = [line for line in lines[start + 1:] if line.split()[0] != "1"]
    return "\n".join([lines[start], *rows[:top]])


def profile(run: Run, workload: Workload) -> tuple[Profile, float, int]:
    """A profiled sync: the profile, the process's CPU-s as the kernel counts it, records."""
    output = run.work / "tap.prof"
    with SandboxProcess(workload.seed, workload.scale) as server:
        config = run.json_file("profile-config.json", workload.config(server.base_url))
        proc = check(run_child([PY, str(HERE / "tap_variant.py"), "--config", str(config)],
                               env=child_env(TAP_BENCH_PROFILE=str(output))), "profiled tap")
    return Profile(str(output)), proc.cpu, metric_records(proc.stderr)


def shares(p: Profile, records: int, steps: list[tuple[str, float]]) -> list[list[str]]:
    return [[label, fmt(seconds, 2), f"{seconds / p.total * 100:.0f}%",
             fmt(per_10k(seconds, records), 3)] for label, seconds in steps]


def run(run: Run, workload: Workload, out: Block) -> None:
    p, cpu, records = profile(run, workload)
    out.say(f"### Where the CPU goes ({records:,} records; {p.total:.1f} CPU-s profiled, "
            f"{cpu:.1f} CPU-s for the whole process with the profiler on)")
    headers = ["step", "CPU s (profiled)", "share", "CPU-s/10k (profiled)"]
    out.table(headers, shares(p, records, buckets(p)))
    out.say("Parts of those steps:")
    out.table(["part", *headers[1:]], shares(p, records, details(p)))
    cpu_runs = run.cpu_runs.get(workload.name)
    if cpu_runs:
        out.say(f"(without the profiler the tap measured "
                f"{per_10k(cpu_runs[0].tap.cpu, cpu_runs[0].tap_records):.3f} CPU-s/10k and "
                f"the bare client {bare_10k(cpu_runs):.3f} in this run)")
    for order, title in (("cumulative", "cumulative"), ("tottime", "own")):
        out.say(f"### Top functions by {title} time (those called more than once)")
        out.say("```")
        out.say(top_functions(p, order))
        out.say("```")
