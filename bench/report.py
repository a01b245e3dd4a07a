"""The Markdown report (docs/benchmarks.md), built from every file in bench/results/.

Hand-written analysis lives in bench/NOTES.md and is included as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import ROOT, read_results, target

REPORT = ROOT / "docs" / "benchmarks.md"
NOTES = ROOT / "bench" / "NOTES.md"
DB_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _n(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


DBS = ("sqlite", "postgresql")


def _raw_growth(result: dict[str, Any]) -> float | None:
    """How much longer the raw SQL took for 10x the references: what the database itself adds."""
    small = result.get("median_seconds", {}).get("raw")
    big = result.get("big_median_seconds", {}).get("raw")
    return big / small if small and big else None


def _met(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("met") is None:
        return "n/a"
    return "met" if figure["met"] else "**not met**"


def _target_text(figure: dict[str, Any], unit: str = "x") -> str:
    sign = ">=" if figure.get("higher_is_better") else "<="
    return f"{sign} {figure['target']:g}{unit}"


def _kinds(results: dict[str, Any]) -> list[str]:
    return [k for k in ("sqlite", "postgresql") if k in results]


def _machine(results: dict[str, dict[str, Any]]) -> list[str]:
    metas = [
        r["meta"] for r in results.values() if isinstance(r, dict) and "meta" in r and "machine" in r["meta"]
    ]
    if not metas:
        return ["No results yet: run `make bench`."]
    meta = max(metas, key=lambda m: m.get("started", ""))
    machine = meta["machine"]
    versions = meta.get("versions", {})
    lines = [
        f"- Machine of the latest run: {machine.get('cpu')}, {machine.get('nproc')} cores (`nproc`), "
        f"{machine.get('memory_gib')} GiB memory; Python {machine.get('python')}; {machine.get('platform')}",
        f"- SQLite {versions.get('sqlite')}; PostgreSQL {versions.get('postgresql')}",
        "- Runs (each section's own date, scale, processor and load average when it started; compare "
        "figures across sections only as ratios, since sections run on different days may have run on "
        "different processors):",
    ]
    for name, result in sorted(results.items()):
        if not isinstance(result, dict) or name.endswith("-error"):
            continue
        entries = [
            (DB_LABEL[k], result[k].get("meta")) for k in _kinds(result) if isinstance(result[k], dict)
        ]
        entries = [(label, m) for label, m in entries if m] or [("", result.get("meta", {}))]
        for label, m in entries:
            if not m:
                continue
            load = m.get("machine", {}).get("load_average")
            load_text = ", ".join(f"{x:.1f}" for x in load) if load else "?"
            lines.append(
                f"  - `{name}`{' on ' + label if label else ''}: started {m.get('started')} UTC, scale "
                f"{m.get('scale')}, {m.get('machine', {}).get('cpu', '?')}, load average {load_text} "
                f"(1, 5, 15 min), commit {m.get('commit') or '?'}"
            )
    return lines


# --- delete ----------------------------------------------------------------------------------------


def _delete(result: dict[str, Any]) -> list[str]:
    lines = ["## 1. Delete with reassignment", ""]
    kinds = _kinds(result)
    if not kinds:
        return [*lines, "Not run.", ""]
    for k in kinds:
        ds = result[k]["dataset"]
        lines.append(
            f"- {DB_LABEL[k]}, scale {result[k]['scale']}: {ds['content_rows']:,} content rows in "
            f"{len(ds['per_table'])} tables, {ds['users']:,} people; the heavy user holds "
            f"{ds['heavy_refs']:,} references over {len(ds['per_kind'])} kinds (about "
            f"{max(ds['per_kind'].values()):,} each); medians of {result[k]['repetitions']} runs."
        )
    lines += [
        "",
        "The tables are every table holding a registered content reference (and their parents), taken "
        "from the reference registry and the models' metadata. Each timed run gets a fresh copy of the "
        "data (file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL), through one engine "
        "kept across runs (warm statement cache, as in a server). Roster's default disposition: "
        "everything to the System User, the authorship map written, one transaction.",
        "",
        "| | " + " | ".join(f"{DB_LABEL[k]} (scale {result[k]['scale']})" for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    rows = [
        ("Roster `delete_user` (one transaction)", "roster"),
        ("Raw SQL: one INSERT ... SELECT + one UPDATE per column, one transaction", "raw"),
        ("GitLab-style: 50-row batches, a transaction each", "gitlab"),
        ("ORM row loop (load, set, flush)", "orm"),
        ("Roster `restore_user`", "restore"),
        ("Roster `delete_user` of an ordinary person", "light_delete"),
        ("Roster `restore_user` of that person", "light_restore"),
    ]
    for label, key in rows:
        cells = []
        for k in kinds:
            med = result[k]["median_seconds"].get(key)
            rate = result[k]["rows_per_second"].get(key)
            if med is None:
                cells.append("not run")
                continue
            base = {"restore": "roster", "light_restore": "light_delete", "light_delete": ""}.get(key, "raw")
            vs = (med / result[k]["median_seconds"][base]) if base and key != "raw" else None
            cell = f"{_s(med)} ({_n(rate)} refs/s"
            if key.startswith("light"):
                cell += f", {result[k]['moved'].get('light', 0):,} refs"
            cell += f", {_x(vs)} {'raw' if base == 'raw' else 'delete'})" if vs else ")"
            if key == "orm" and result[k]["ratios"]["orm_vs_raw"].get("extrapolated"):
                cell += f" *extrapolated from {result[k]['orm_rows_measured']:,} rows*"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if any("big_median_seconds" in result[k] for k in kinds):
        for label, key in (
            ("Roster `delete_user`", "roster"),
            ("Raw SQL", "raw"),
            ("Roster `restore_user`", "restore"),
        ):
            cells = []
            for k in kinds:
                if "big_median_seconds" not in result[k]:
                    cells.append("not run")
                    continue
                refs = result[k]["big_dataset"]["heavy_refs"]
                med = result[k]["big_median_seconds"][key]
                cells.append(f"{_s(med)} ({refs:,} refs, {_n(refs / med)} refs/s)")
            lines.append(f"| {label}, 10x the references | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| Target | " + " | ".join(DB_LABEL[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for label, key in (
        ("Roster within 1.5x of raw SQL", "roster_vs_raw"),
        ("Restore within 1.5x of delete", "restore_vs_delete"),
        ("Restore within 1.5x of delete, ordinary person", "light_restore_vs_delete"),
        ("10x the references within 11x the time (linear)", "big_vs_small"),
        ("Roster within 1.5x of raw SQL at 10x the references", "big_roster_vs_raw"),
    ):
        cells = []
        for k in kinds:
            fig = result[k]["ratios"].get(key)
            cells.append(f"{_x(fig['value'])} ({_target_text(fig)}): {_met(fig)}" if fig else "not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Comparison rows: GitLab-style batches "
        + ", ".join(
            f"{_x(result[k]['ratios']['gitlab_vs_raw']['value'])} raw on {DB_LABEL[k]}" for k in kinds
        )
        + "; ORM loop "
        + ", ".join(f"{_x(result[k]['ratios']['orm_vs_raw']['value'])} raw on {DB_LABEL[k]}" for k in kinds)
        + ".",
        "",
        "All runs (seconds):",
        "",
    ]
    for k in kinds:
        runs = result[k]["runs"]
        parts = [f"{name} {', '.join(f'{v:.2f}' for v in vals)}" for name, vals in runs.items()]
        if "big_runs" in result[k]:
            parts += [
                f"big {name} {', '.join(f'{v:.2f}' for v in vals)}"
                for name, vals in result[k]["big_runs"].items()
            ]
        lines.append(f"- {DB_LABEL[k]}: " + "; ".join(parts))
    lines += ["", "Where Roster's delete spends its time (one run, every statement timed at the driver):", ""]
    for k in kinds:
        prof = result[k].get("profile")
        raw = result[k].get("raw_profile")
        if not prof:
            continue
        lines.append(
            f"- {DB_LABEL[k]}: {_s(prof['wall_seconds'])} wall, {_s(prof['sql_seconds'])} in "
            f"{prof['statements']} statements, {_s(prof['python_seconds'])} outside them (Python and COMMIT)"
            + (
                f"; raw SQL: {_s(raw['wall_seconds'])} wall, {_s(raw['sql_seconds'])} in "
                f"{raw['statements']} statements"
                if raw
                else ""
            )
        )
        for item in prof["top"][:6]:
            lines.append(f"  - {_s(item['seconds'])} x{item['count']}: `{item['sql'][:110]}...`")
        restore = result[k].get("restore_profile")
        if restore:
            lines.append(
                f"  - restore: {_s(restore['wall_seconds'])} wall, {_s(restore['sql_seconds'])} in "
                f"{restore['statements']} statements; slowest:"
            )
            for item in restore["top"][:3]:
                lines.append(f"    - {_s(item['seconds'])} x{item['count']}: `{item['sql'][:110]}...`")
    lines.append("")
    return lines


# --- seats -----------------------------------------------------------------------------------------


def _seats(result: dict[str, Any]) -> list[str]:
    lines = ["## 3. Seats under concurrency", ""]
    kinds = _kinds(result)
    if not kinds:
        return [*lines, "Not run.", ""]
    first = result[kinds[0]]
    lines += [
        f"{first['workers']} worker processes, each with its own connection, call "
        "`lifecycle.invitations.invite_user` in their own transactions at the boundary of the "
        f"`{first['plan']}` plan ({first['sizes']['small']['limit']} seats, 50 left at the start of each "
        f"round) until the plan refuses them; {first['rounds']} rounds per organization (after one "
        "warm-up round), rows counted after each round.",
        "",
        "| | " + " | ".join(DB_LABEL[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for size in ("small", "large"):
        people = first["sizes"][size]["people"]
        lines.append(
            f"| Admissions/s, {people:,} people | "
            + " | ".join(_n(result[k]["sizes"][size]["median_admissions_per_second"]) for k in kinds)
            + " |"
        )
        lines.append(
            f"| Over-subscriptions / lost seats, {people:,} people | "
            + " | ".join(
                f"{result[k]['sizes'][size]['over_subscriptions']} / {result[k]['sizes'][size]['lost_seats']}"
                + ("" if result[k]["sizes"][size]["counter_always_matches"] else " (counter disagreed!)")
                for k in kinds
            )
            + " |"
        )
    for label, key in (
        ("Zero over-subscriptions", "over_subscriptions"),
        ("Rates within 1.5x of each other", "size_ratio"),
    ):
        cells = []
        for k in kinds:
            fig = result[k]["targets"][key]
            value = f"{fig['value']:.0f}" if key == "over_subscriptions" else _x(fig["value"])
            cells.append(f"{value}: {_met(fig)}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


# --- memory ----------------------------------------------------------------------------------------


def _memory(result: dict[str, Any]) -> list[str]:
    lines = ["## 5. Memory", ""]
    kinds = _kinds(result)
    if not kinds:
        return [*lines, "Not run.", ""]
    first = result[kinds[0]]
    lines += [
        f"One `uvicorn roster.asgi:app` process (one worker) serving {first['people']:,} people in "
        f"{first['organizations']:,} organizations (every tenth dismissed); {first['requests']:,} requests from "
        f"{first['client_threads']} client threads over loopback: autocomplete with random 1-4 letter prefixes "
        "(accented names among them), directory pages with and without a query, the stream. Peak RSS is "
        "`VmHWM` from `/proc/<pid>/status`. No target was set; the figure is there to be watched.",
        "",
        "| | " + " | ".join(DB_LABEL[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
        "| Peak RSS | " + " | ".join(f"{result[k]['peak_rss_mib']:.0f} MiB" for k in kinds) + " |",
        "| RSS after start-up | " + " | ".join(f"{result[k]['idle_rss_mib']:.0f} MiB" for k in kinds) + " |",
        "| Requests/s (4 clients) | "
        + " | ".join(_n(result[k]["requests_per_second"]) for k in kinds)
        + " |",
        "| Latency p50 / p99 | "
        + " | ".join(
            f"{result[k]['latency_p50_ms']:.1f} / {result[k]['latency_p99_ms']:.1f} ms" for k in kinds
        )
        + " |",
        "| Database size | "
        + " | ".join(f"{result[k]['database_bytes'] / 1e6:,.0f} MB" for k in kinds)
        + " |",
        "",
    ]
    for k in kinds:
        lines.append(
            f"- {DB_LABEL[k]} responses: " + ", ".join(f"{s}: {n}" for s, n in result[k]["statuses"].items())
        )
    lines.append("")
    return lines


# --- search and SCIM (their modules write their own results files) ---------------------------------


def _search(result: dict[str, Any] | None, error: dict[str, Any] | None) -> list[str]:
    """bench/search.py's payload, as tables and plans."""
    title = "## 2. Search (autocomplete)"
    body = (result or {}).get("result", result or {})
    kinds = [k for k in ("sqlite", "postgresql") if isinstance(body.get(k), dict) and "service" in body[k]]
    if not kinds:
        return _generic(title, result, error)
    first = body[kinds[0]]
    lines = [
        title,
        "",
        f"From `bench/search.py` (scale {body.get('scale')}): {first['users']:,} users across "
        f"{first['organizations']:,} organizations (10% dismissed), {first['queries']:,} random prefixes "
        "(1-letter, longer, accented, other scripts, emails, misses), limit "
        f"{body.get('limit', 10)}. `service` is `roster.directory.search.autocomplete` in its own session; "
        "`bare` the same statement through SQLAlchemy Core; `bare_single` one range scan on one partial "
        "index (the floor); `http` a real uvicorn on loopback"
        + (
            f" (load average when it started: {', '.join(f'{x:.1f}' for x in body['load_average_at_start'])})."
            if isinstance(body.get("load_average_at_start"), list)
            else "."
        ),
        "",
        "| p50 / p99 | " + " | ".join(DB_LABEL[k] for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for name in ("service", "bare", "bare_single", "http"):
        if not all(name in body[k] for k in kinds):
            continue
        lines.append(
            f"| {name} | "
            + " | ".join(f"{body[k][name]['p50_ms']:.2f} / {body[k][name]['p99_ms']:.2f} ms" for k in kinds)
            + " |"
        )
    for name, label in (
        ("reference_healthz", "http `GET /healthz` (no database)"),
        ("reference_me", "http `GET /me`"),
    ):
        if all(isinstance(body[k].get("http"), dict) and name in body[k]["http"] for k in kinds):
            lines.append(
                f"| {label} | "
                + " | ".join(
                    f"{body[k]['http'][name]['p50_ms']:.2f} / {body[k]['http'][name]['p99_ms']:.2f} ms"
                    for k in kinds
                )
                + " |"
            )
    cells = []
    for k in kinds:
        value = body[k].get("service_p99_over_bare_p99")
        cells.append(f"{_x(value)} (<= 2x): {'met' if value is not None and value <= 2 else '**not met**'}")
    lines.append("| Service p99 within 2x of the bare query | " + " | ".join(cells) + " |")
    if all("http" in body[k] for k in kinds):
        cells = []
        for k in kinds:
            value = body[k]["http"]["p99_ms"]
            cells.append(f"{value:.2f} ms (< 5 ms): {'met' if value < 5 else '**not met**'}")
        lines.append("| HTTP p99 under 5 ms | " + " | ".join(cells) + " |")
    lines.append("")
    if body.get("repetitions"):
        lines += [f"Repetitions: {body['repetitions']}.", ""]
    each = [
        f"{DB_LABEL[k]} {', '.join(f'{v:.2f}' for v in body[k]['http']['p99_ms_of_each_pass'])} ms"
        for k in kinds
        if isinstance(body[k].get("http"), dict) and body[k]["http"].get("p99_ms_of_each_pass")
    ]
    if each:
        lines += ["HTTP p99 of each pass: " + "; ".join(each) + ".", ""]
    for k in kinds:
        for name, plan in (body[k].get("plans") or {}).items():
            lines += [f"Query plan, {DB_LABEL[k]}, {name}:", "", "```", str(plan).strip(), "```", ""]
    return lines


def _scim(result: dict[str, Any] | None, error: dict[str, Any] | None) -> list[str]:
    """bench/scim.py's payload."""
    title = "## 4. SCIM"
    body = (result or {}).get("result", result or {})
    servers = body.get("sqlite") if isinstance(body, dict) else None
    if not isinstance(servers, dict) or "roster" not in servers or "scim2-server" not in servers:
        return _generic(title, result, error)
    roster, peer = servers["roster"], servers["scim2-server"]
    counts = body.get("meta", {}).get("counts", {})
    client = body.get("meta", {}).get("client", "")
    lines = [
        title,
        "",
        f"From `bench/scim.py`: {roster.get('server', 'Roster (uvicorn, SQLite)')} and "
        f"{peer.get('server', 'scim2-server (in memory)')} on loopback, driven by the same client ({client}); "
        f"{counts.get('creates', '?')} creates, {counts.get('lookups', '?')} `userName eq` lookups, "
        f"{counts.get('pages', '?')} pages of 100.",
        "",
        "| | Roster | scim2-server | Roster's speed / the peer's | Target (>= 2x the peer) |",
        "|---|---|---|---|---|",
    ]
    for label, key, higher in (
        ("Creates/s", "creates_per_second", True),
        ("`userName eq` lookups/s", "user_name_lookups_per_second", True),
        ("100-item page, median", "page_of_100_ms_median", False),
    ):
        mine, theirs = roster.get(key), peer.get(key)
        if mine is None or theirs is None:
            continue
        if higher:
            speedup = mine / theirs if theirs else None
            cells = f"{mine:,.0f} | {theirs:,.0f}"
        else:
            speedup = theirs / mine if mine else None
            cells = f"{mine:.2f} ms | {theirs:.2f} ms"
        met = "n/a" if speedup is None else ("met" if speedup >= 2 else "**not met**")
        lines.append(f"| {label} | {cells} | {_x(speedup)} | {met} |")
    cpu_rows = [
        (label, roster.get(key), peer.get(key))
        for label, key in (
            ("a create", "create_server_cpu_ms"),
            ("a `userName eq` lookup", "lookup_server_cpu_ms"),
            ("a 100-item page", "page_server_cpu_ms"),
        )
        if roster.get(key) is not None and peer.get(key) is not None
    ]
    if cpu_rows:
        lines += [
            "",
            "Each server process's own CPU time per request over the same requests (from `/proc`), "
            "which the machine's other load moves less than wall time:",
            "",
            "| Server CPU per request | Roster | scim2-server | Roster / the peer |",
            "|---|---|---|---|",
        ]
        for label, mine, theirs in cpu_rows:
            lines.append(
                f"| {label} | {mine:.2f} ms | {theirs:.2f} ms | {_x(mine / theirs if theirs else None)} |"
            )
    floor = roster.get("floor") or {}
    labels = {
        "healthz": "`/healthz` (the HTTP round trip, no SCIM, no database)",
        "scim_refused_token": "a SCIM request with a malformed token (refused before the database)",
        "scim_authenticated_config": "`/ServiceProviderConfig` with a valid token (the token "
        "checked in one read transaction, answered on the event loop as a point read)",
    }
    if floor:
        lines += [
            "",
            "Roster's floor, for reading the lookup's own share (the same server, after the runs above):",
            "",
            "| Request | Wall | Server CPU |",
            "|---|---|---|",
        ]
        for key, label in labels.items():
            row = floor.get(key)
            if row:
                cpu = row.get("server_cpu_ms")
                lines.append(
                    f"| {label} | {row['wall_ms']:.2f} ms | {'n/a' if cpu is None else f'{cpu:.2f} ms'} |"
                )
    lines += _scim_budget(roster, peer)
    lines += _scim_bare(servers.get("bare"), roster, peer)
    lines += _scim_rules(servers.get("rules"), servers.get("bare"), roster, peer)
    if body.get("meta", {}).get("interleaving"):
        lines += ["", f"Interleaving: {body['meta']['interleaving']}."]
    lines += _scim_concurrent(body.get("concurrent"))
    lines.append("")
    return lines


def _scim_budget(roster: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    """What twice the peer's rate leaves a request, against the parts no implementation can skip:
    the bare HTTP round trip (``/healthz``, same server and client) and the database's share (the
    request's own statements replayed through ``sqlite3``, from ``bench/scim_floor.py``)."""
    share = roster.get("database_share") or {}
    http = ((roster.get("floor") or {}).get("healthz") or {}).get("wall_ms")
    if not share or http is None:
        return []
    lines = [
        "",
        "Where a request's time goes, one connection: twice the peer's rate allows the round trip "
        "in the first column. Any server keeping Roster's data needs at least the bare HTTP round "
        "trip and the database's share: the statements Roster sends for that request (captured "
        "from its service code), replayed through Python's `sqlite3` module on a copy of the same "
        f"database, one transaction each ({share.get('create_statements', '?')} statements and its "
        f"COMMIT for a create, {share.get('lookup_statements', '?')} for a lookup). The rest is "
        "Roster's own code: HTTP parsing and routing, authentication, validation, the ORM, rendering.",
        "",
        "| Request | Round trip at 2x the peer | Bare HTTP round trip | Database's share | "
        "Left at 2x for the rest | Roster's rest now |",
        "|---|---|---|---|---|---|",
    ]
    for label, rate_key, share_key in (
        ("a create", "creates_per_second", "create_ms"),
        ("a `userName eq` lookup", "user_name_lookups_per_second", "lookup_ms"),
    ):
        mine, theirs, database = roster.get(rate_key), peer.get(rate_key), share.get(share_key)
        if not mine or not theirs or database is None:
            continue
        budget = 1000 / (2 * theirs)
        now = 1000 / mine
        lines.append(
            f"| {label} | {budget:.2f} ms | {http:.2f} ms | {database:.2f} ms | "
            f"{budget - http - database:.2f} ms | {now - http - database:.2f} ms |"
        )
    return lines


# The SCIM rates the bare server's and the concurrent tables show: label, rate key, server CPU key.
_SCIM_RATES = (
    ("Creates/s", "creates_per_second", "create_server_cpu_ms"),
    ("`userName eq` lookups/s", "user_name_lookups_per_second", "lookup_server_cpu_ms"),
)


def _scim_bare(bare: dict[str, Any] | None, roster: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    """The bare server of ``bench/scim_bare.py``, measured in the same turns as Roster and the peer."""
    if not bare:
        return []
    lines = [
        "",
        "The same budget, measured: a bare ASGI server under the same uvicorn (`bench/scim_bare.py`) "
        "answers each create and lookup by sending the statements Roster sent for one (the "
        "database's share above) through `sqlite3` on a database of its own, and answering the "
        "body Roster rendered for it, with the request's person put in. It has no framework, ORM, "
        "validation or rules of its own. It took its turns with Roster and the peer, on the same "
        "client. What Roster takes beyond it is what Roster's own code costs over HTTP.",
        "",
        "| Request | Bare server | Bare / the peer | Roster / bare | Bare server's CPU | Roster's CPU |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, cpu_key in _SCIM_RATES:
        floor, mine, theirs = bare.get(key), roster.get(key), peer.get(key)
        if not floor or not mine or not theirs:
            continue
        cpu_floor, cpu_mine = bare.get(cpu_key), roster.get(cpu_key)
        cpus = [("n/a" if c is None else f"{c:.2f} ms") for c in (cpu_floor, cpu_mine)]
        lines.append(
            f"| {label} | {floor:,.0f} | {_x(floor / theirs)} | {_x(mine / floor)} | {cpus[0]} | {cpus[1]} |"
        )
    return lines


def _scim_rules(
    rules: dict[str, Any] | None, bare: dict[str, Any] | None, roster: dict[str, Any], peer: dict[str, Any]
) -> list[str]:
    """The bare server with Roster's rules (``bench.scim_bare.RulesServer``): the most any
    implementation of Roster's create reaches on this HTTP server and database."""
    theirs = peer.get("creates_per_second")
    if not rules or not bare or not theirs or not roster.get("creates_per_second"):
        return []
    rows = [
        ("Bare server (HTTP and the statements)", bare),
        ("Bare server with Roster's rules", rules),
        ("Roster", roster),
        ("scim2-server", peer),
    ]
    lines = [
        "",
        "The most Roster's rules allow, measured: the bare server doing, besides, with Roster's own "
        "functions, what Roster's rules require of a create and nothing else (`RulesServer` in "
        "`bench/scim_bare.py`): the bearer token's hash and its row read before the write, the body "
        "parsed and checked (`service.read_user`, the address validated), the person's search "
        "keys, the audit event's digests and chained hash written into the event and the chain's "
        "head (Roster's `verify_chain` accepts its chain), and the answer rendered with its ETag "
        "and Location. No framework, ORM, session or error handling. Any create path that keeps "
        "Roster's rules, on this HTTP server and database, is at most this fast. It took its turns "
        "with the others, on the same client.",
        "",
        "| Creates, one connection | Rate | vs the peer (target >= 2x) | Server CPU per create |",
        "|---|---|---|---|",
    ]
    for label, server in rows:
        rate, cpu = server["creates_per_second"], server.get("create_server_cpu_ms")
        lines.append(
            f"| {label} | {rate:,.0f}/s | {_x(rate / theirs)} | {'n/a' if cpu is None else f'{cpu:.2f} ms'} |"
        )
    return lines


def _concurrent_rosters(servers: dict[str, Any], workers: Any) -> list[tuple[str, dict[str, Any]]]:
    """The Roster servers a concurrent run measured, each with how it ran: one worker process (as
    ``roster serve`` runs by default), and a worker process per core."""
    rosters = []
    if servers.get("roster_one_worker"):
        rosters.append(("1 worker process", servers["roster_one_worker"]))
    if servers.get("roster"):
        rosters.append((f"{workers} worker processes", servers["roster"]))
    return rosters


def _scim_concurrent(concurrent: dict[str, Any] | None) -> list[str]:
    """The same creates and lookups over several connections at once, when the run measured it."""
    servers = (concurrent or {}).get("sqlite")
    if not concurrent or not isinstance(servers, dict) or "scim2-server" not in servers:
        return []
    peer = servers["scim2-server"]
    rosters = _concurrent_rosters(servers, concurrent.get("roster_workers", "?"))
    if not rosters:
        return []
    lines = [
        "",
        f"Under concurrent load: {concurrent.get('client', '')}. Servers: "
        + "; ".join(str(roster.get("server")) for _, roster in rosters)
        + f"; and {peer.get('server')}, which keeps its people in one process's memory and so cannot "
        "run more processes. The one-connection rows above are a sequential client's pace (each "
        "request waits for the one before); these are each server's throughput on this machine, "
        "whose cores the client shares. Both are held to the target.",
        "",
        f"| {concurrent.get('connections', '?')} connections at once | Roster | scim2-server | Roster / the peer "
        "| Target (>= 2x the peer) | Server CPU per request, Roster / the peer |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, cpu_key in _SCIM_RATES:
        for how, roster in rosters:
            mine, theirs = roster.get(key), peer.get(key)
            if not mine or not theirs:
                continue
            cpu_mine, cpu_theirs = roster.get(cpu_key), peer.get(cpu_key)
            cpu = f"{cpu_mine:.2f} ms / {cpu_theirs:.2f} ms" if cpu_mine and cpu_theirs else "n/a"
            met = "met" if mine / theirs >= 2 else "**not met**"
            lines.append(
                f"| {label}, Roster on {how} | {mine:,.0f} | {theirs:,.0f} | {_x(mine / theirs)} | {met} | {cpu} |"
            )
    spread = (servers.get("roster") or {}).get("connections_per_process")
    if spread and len(spread) > 1:
        lines += [
            "",
            f"Roster's connections per worker process in this run: {' and '.join(map(str, spread))}. The "
            "kernel gives each new connection to whichever worker accepts it first, so the split "
            "differs from run to run (from 4/4 to 8/0 here), and with it the rate: one "
            "worker process does at most what one core can.",
        ]
    return lines


def _generic(title: str, result: dict[str, Any] | None, error: dict[str, Any] | None) -> list[str]:
    lines = [title, ""]
    if result is None:
        if error:
            return [*lines, "The last run failed:", "", "```", error.get("error", "")[-2000:], "```", ""]
        return [*lines, "Not run.", ""]
    body = result.get("result", result)
    if isinstance(body, dict) and isinstance(body.get("markdown"), str):
        return [*lines, body["markdown"].strip(), ""]
    if isinstance(body, str):
        return [*lines, body.strip(), ""]
    data = {k: v for k, v in (body.items() if isinstance(body, dict) else []) if k != "meta"}
    return [*lines, "```json", json.dumps(data, indent=2, default=str)[:20000], "```", ""]


def _summary(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per target: the figure on each database and whether it is met."""
    rows: list[tuple[str, str, str]] = []  # (figure, sqlite, postgresql)

    def cell(fig: dict[str, Any] | None, fmt: str = "x") -> str:
        if not fig or fig.get("value") is None:
            return "not run"
        value = fig["value"]
        text = _x(value) if fmt == "x" else f"{value:g}"
        return f"{text}: {_met(fig)}"

    delete = results.get("delete", {})
    for label, key in (
        ("Delete: Roster / raw SQL (<= 1.5x)", "roster_vs_raw"),
        ("Delete, 10x the references: Roster / raw SQL (<= 1.5x)", "big_roster_vs_raw"),
        ("Restore / delete (<= 1.5x)", "restore_vs_delete"),
        (
            "Restore / delete, an ordinary person (<= 1.5x, the restore target for one person)",
            "light_restore_vs_delete",
        ),
        ("10x the references / 1x, time (<= 11x)", "big_vs_small"),
    ):
        cells = [cell(delete.get(k, {}).get("ratios", {}).get(key)) for k in ("sqlite", "postgresql")]
        if key == "big_vs_small":  # the database's own growth, for comparison
            cells = [
                f"{c} (raw SQL: {_x(_raw_growth(delete.get(k, {})))})"
                for c, k in zip(cells, DBS, strict=True)
            ]
        rows.append((label, *cells))
    search = results.get("search", {})
    body = search.get("result", search)
    for label, fn in (
        (
            "Search: service p99 / bare query p99 (<= 2x)",
            lambda r: target(r.get("service_p99_over_bare_p99"), 2.0),
        ),
        ("Search: HTTP p99 (< 5 ms)", lambda r: target(r.get("http", {}).get("p99_ms"), 5.0)),
    ):
        cells = []
        for k in ("sqlite", "postgresql"):
            r = body.get(k) if isinstance(body, dict) else None
            if not isinstance(r, dict) or "service" not in r:
                cells.append("not run")
                continue
            fig = fn(r)
            cells.append(cell(fig) if "HTTP" not in label else f"{fig['value']:.1f} ms: {_met(fig)}")
        rows.append((label, *cells))
    seats = results.get("seats", {})
    rows.append(
        (
            "Seats: over-subscriptions (0)",
            *(
                cell(seats.get(k, {}).get("targets", {}).get("over_subscriptions"), "n")
                for k in ("sqlite", "postgresql")
            ),
        )
    )
    rows.append(
        (
            "Seats: admissions/s, small org / large org (within 1.5x)",
            *(cell(seats.get(k, {}).get("targets", {}).get("size_ratio")) for k in ("sqlite", "postgresql")),
        )
    )
    scim = results.get("scim", {})
    sbody = scim.get("result", scim)
    servers = sbody.get("sqlite") if isinstance(sbody, dict) else None
    if isinstance(servers, dict) and "roster" in servers and "scim2-server" in servers:
        roster, peer = servers["roster"], servers["scim2-server"]
        concurrent_run = sbody.get("concurrent") or {}
        concurrent = concurrent_run.get("sqlite") or {}
        connections = concurrent_run.get("connections", "?")
        peer_under_load = concurrent.get("scim2-server") or {}
        rosters_under_load = _concurrent_rosters(concurrent, concurrent_run.get("roster_workers", "?"))
        figures: list[tuple[str, str, bool, tuple[dict[str, Any], dict[str, Any]]]] = []
        for kind, key in (
            ("creates/s", "creates_per_second"),
            ("`userName eq` lookups/s", "user_name_lookups_per_second"),
        ):
            figures.append(
                (f"SCIM: {kind}, one connection, Roster / scim2-server (>= 2x)", key, True, (roster, peer))
            )
            figures += [
                (
                    f"SCIM: {kind}, {connections} connections, Roster on {how} / scim2-server (>= 2x)",
                    key,
                    True,
                    (under_load, peer_under_load),
                )
                for how, under_load in rosters_under_load
            ]
        figures.append(
            (
                "SCIM: 100-item page, speed vs scim2-server (>= 2x)",
                "page_of_100_ms_median",
                False,
                (roster, peer),
            )
        )
        for label, key, higher, (mine_of, theirs_of) in figures:
            mine, theirs = mine_of.get(key), theirs_of.get(key)
            if mine is None and theirs is None and mine_of is not roster:
                continue  # a run without the concurrent part
            value = (mine / theirs if higher else theirs / mine) if mine and theirs else None
            rows.append((label, cell(target(value, 2.0, higher_is_better=True)), "SQLite only"))
            ceiling = (servers.get("rules") or {}).get(key)
            if mine_of is roster and key == "creates_per_second" and ceiling and theirs:
                rows.append(
                    (
                        "SCIM: creates/s, one connection, the most Roster's rules allow (the bare server "
                        "with Roster's rules, section 4) / scim2-server (no target: the ceiling of the row above)",
                        _x(ceiling / theirs),
                        "SQLite only",
                    )
                )
    memory = results.get("memory", {})
    rows.append(
        (
            "Memory: peak RSS of the server (no target)",
            *(
                f"{memory[k]['peak_rss_mib']:.0f} MiB at {memory[k]['people']:,} people"
                if k in memory
                else "not run"
                for k in ("sqlite", "postgresql")
            ),
        )
    )
    lines = ["## Summary", "", "| Figure (target) | SQLite | PostgreSQL |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return [*lines, ""]


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m bench --scale S [--only delete,search,seats,scim,memory] "
        "[--db sqlite,postgresql]`); the raw figures are in `bench/results/*.json`. These are not tests: "
        "nothing in `make test` depends on timing. Scale 1 is the size the targets are written for "
        "(1,000,000 content rows, a 200,000-reference user, 1,000,000 directory users); smaller scales "
        "shrink every data set in proportion.",
        "",
        *_machine(results),
        "",
        *_summary(results),
    ]
    lines += _delete(results.get("delete", {}))
    lines += _search(results.get("search"), results.get("search-error"))
    lines += _seats(results.get("seats", {}))
    lines += _scim(results.get("scim"), results.get("scim-error"))
    lines += _memory(results.get("memory", {}))
    errors = [
        name
        for name in results
        if name.endswith("-error") and name.split("-")[0] in ("delete", "seats", "memory")
    ]
    for name in errors:
        lines += [f"### {name}", "", "```", results[name].get("error", "")[-2000:], "```", ""]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    return "\n".join(lines)


def write(path: Path = REPORT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(read_results()))
    return path
