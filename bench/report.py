"""Tables of benchmark results, as Markdown (readable in a terminal, pasteable into docs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.peers import DURABILITY, GT_SERVERS

__all__ = [
    "ceiling_table",
    "profile_tables",
    "ratio_table",
    "replication_tables",
    "results_table",
    "run_table",
    "store_probe_tables",
    "suite_report",
    "targets",
]

#: the lead's targets (issue item 4)
TARGET_WORKLOADS = ("put", "get", "mixed")
TARGET_VS_DYNALITE_DISK = 1.5
TARGET_VS_MOTO = 10.0
TARGET_P99_MS = 20.0
TARGET_LAG_P99_MS = 250.0
TARGET_LAG_RATE = 500


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in text]
    return "\n".join([line, sep, *body])


def run_table(result: dict[str, Any]) -> str:
    """One load-generator run (``globaltables bench run``)."""
    rows = [
        [
            "all",
            result["ops"],
            result["ops_per_s"],
            result["stats"]["mean_ms"],
            result["p50_ms"],
            result["stats"]["p90_ms"],
            result["p99_ms"],
            result["stats"]["max_ms"],
        ]
    ]
    if len(result["by_kind"]) > 1:
        for kind, s in result["by_kind"].items():
            rows.append(
                [kind, s["ops"], s["ops_per_s"], s["mean_ms"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]]
            )
    out = _table(["op", "ops", "ops/s", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
    errors = ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "none"
    extra = (
        f"\n{result['workload']} against {result['endpoint']}: concurrency {result['concurrency']}, "
        f"items {result['item_size']} B, key space {result['key_space']}, {result['seconds']:.1f} s measured; "
        f"errors: {errors}; client CPU {result['client_cpu_pct']:.0f} % of a core"
    )
    if result.get("items_per_s") and result["workload"] in ("batch-write", "transact"):
        extra += f"; {result['items_per_s']:,.0f} items/s"
    if result.get("misses"):
        extra += f"; {result['misses']} gets found no item"
    return out + extra


def ceiling_table(rows: list[dict[str, Any]]) -> str:
    return _table(
        ["workload", "ops/s", "p50 ms", "p99 ms", "client CPU %", "trivial server CPU %"],
        [
            [
                r["workload"],
                r["ops_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["cpu"].get("client_cpu_pct"),
                r["cpu"].get("server_cpu_pct"),
            ]
            for r in rows
        ],
    )


def results_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        if "unsupported" in r:
            out.append([r["workload"], r["server"], "n/a", None, None, None, None, None, r["unsupported"][:40]])
            continue
        err = f"{100 * r['error_rate']:.1f} %" if r["error_rate"] else ""
        out.append(
            [
                r["workload"],
                r["server"],
                r["ops_per_s"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_pct"],
                r["server_cpu_ms_per_op"],
                r["other_cpu_pct"],
                err,
            ]
        )
    return _table(
        ["workload", "server", "ops/s", "p50 ms", "p99 ms", "server CPU %", "CPU ms/op", "other CPU %", "errors"],
        out,
    )


def ratio_table(rows: list[dict[str, Any]]) -> str:
    return _table(
        ["workload", "globaltables", "÷ moto", "÷ dynalite-mem", "÷ dynalite-disk"],
        [[r["workload"], r["server"], r.get("moto"), r.get("dynalite-mem"), r.get("dynalite-disk")] for r in rows],
    )


def replication_tables(doc: dict[str, Any]) -> str:
    steps = doc.get("steps", [])
    parts = [
        _table(
            [
                "target w/s",
                "achieved w/s",
                "write p50 ms",
                "write p99 ms",
                "worst pair lag p99 ms",
                "drained",
                "CPU % (regions, kafka)",
                "result",
            ],
            [
                [
                    s["target_rate"],
                    s["achieved_rate"],
                    s["write_p50_ms"],
                    s["write_p99_ms"],
                    s["worst_p99_ms"],
                    f"{'yes' if s['drained'] else 'NO'} ({s['drain_s']:.1f} s)",
                    " / ".join(f"{v:.0f}" for v in s["cpu_pct"].values()),
                    "pass" if s["passed"] else "FAIL",
                ]
                for s in steps
            ],
        )
    ]
    for s in steps:
        parts.append(f"\nper pair at {s['target_rate']} w/s (achieved {s['achieved_rate']:.0f} w/s):\n")
        parts.append(
            _table(
                ["source → destination", "applied", "lag p50 ms", "lag p99 ms", "lag max ms",
                 "probes", "probe p50 ms", "probe p99 ms", "probe max ms"],
                [
                    [
                        f"{p['source']} → {p['destination']}",
                        p["applied"],
                        p["p50_ms"],
                        p["p99_ms"],
                        p["max_ms"] if p["max_ms"] is not None else f"≤ {p['max_le_ms']:,.0f}",
                        p["probe_n"],
                        p["probe_p50_ms"],
                        p["probe_p99_ms"],
                        p["probe_max_ms"],
                    ]
                    for p in s["pairs"]
                ],
            )
        )
    parts.append(
        f"\nhighest sustained total write rate with every pair's p99 lag < 1 s: "
        f"{doc.get('max_sustained_rate', 0):.0f} w/s (target step {doc.get('max_passing_target', 0)} w/s)"
    )
    return "\n".join(parts)


def targets(doc: dict[str, Any]) -> str:
    """Where we stand against the issue's targets."""
    by = {(r["workload"], r["server"]): r for r in doc.get("results", []) if "ops_per_s" in r}
    rows = []
    for wl in TARGET_WORKLOADS:
        for gt in GT_SERVERS:
            me = by.get((wl, gt))
            if me is None:
                continue
            dd = by.get((wl, "dynalite-disk"))
            mo = by.get((wl, "moto"))
            r_dd = me["ops_per_s"] / dd["ops_per_s"] if dd and dd["ops_per_s"] else None
            r_mo = me["ops_per_s"] / mo["ops_per_s"] if mo and mo["ops_per_s"] else None
            rows.append(
                [
                    wl,
                    gt,
                    None if r_dd is None else f"{r_dd:.2f}x ({'ok' if r_dd >= TARGET_VS_DYNALITE_DISK else 'miss'})",
                    None if r_mo is None else f"{r_mo:.1f}x ({'ok' if r_mo >= TARGET_VS_MOTO else 'miss'})",
                    f"{me['p99_ms']:.1f} ({'ok' if me['p99_ms'] < TARGET_P99_MS else 'miss'})",
                ]
            )
    out = _table(
        ["workload", "server", f"vs dynalite-disk (≥ {TARGET_VS_DYNALITE_DISK}x)",
         f"vs moto (≥ {TARGET_VS_MOTO:.0f}x)", f"p99 ms (< {TARGET_P99_MS:.0f})"],
        rows,
    )
    repl = doc.get("replication") or {}
    at = repl.get("at_500")
    if at:
        out += (
            f"\nreplication at {TARGET_LAG_RATE} w/s: worst pair p99 lag {at['worst_p99_ms']:.0f} ms "
            f"(target < {TARGET_LAG_P99_MS:.0f} ms: {'ok' if at['worst_p99_ms'] < TARGET_LAG_P99_MS else 'miss'}), "
            f"achieved {at['achieved_rate']:.0f} w/s"
        )
    elif repl:
        out += (
            f"\nreplication: the sweep stopped before {TARGET_LAG_RATE} w/s "
            f"(highest passing step {repl.get('max_passing_target', 0)} w/s): target missed"
        )
    return out


def profile_tables(doc: dict[str, Any], top: int = 15) -> str:
    mode = {
        "gil": "samples of the thread holding the GIL (Python CPU)",
        "wall": "samples of every thread, waiting or not, with native frames (wall clock)",
    }.get(doc.get("mode", ""), "")
    parts = [
        f"{doc['samples']} samples of {doc['server']} under {doc['workload']} "
        f"({doc['load']['ops_per_s']:,.0f} ops/s, p99 {doc['load']['p99_ms']:.1f} ms); {mode}",
        "\nthreads:\n" + _table(["thread", "samples", "%"], [[t["name"], t["samples"], t["pct"]] for t in doc["threads"][:top]]),
        "\nself time by package:\n"
        + _table(["package", "%"], [[p["name"], p["pct"]] for p in doc["packages_self"][:top]]),
        "\ninclusive time by package:\n"
        + _table(["package", "%"], [[p["name"], p["pct"]] for p in doc["packages_inclusive"][:top]]),
        "\nself time by function:\n"
        + _table(["function", "%"], [[f["name"], f["pct"]] for f in doc["self"][:top]]),
        "\ninclusive time by function:\n"
        + _table(["function", "%"], [[f["name"], f["pct"]] for f in doc["inclusive"][:top]]),
        "\nmost frequent stacks (innermost five frames):\n"
        + _table(["thread: stack", "%"], [[f["name"], f["pct"]] for f in doc["stacks"][:top]]),
    ]
    return "\n".join(parts)


def store_probe_tables(doc: dict[str, Any]) -> str:
    parts = [f"store: {doc['store']}", "\nSQL statements per PutItem:\n"]
    parts.append(_table(["statement", "per put"], [[k, v] for k, v in doc["statements_per_put"].items()]))
    parts.append("\nSQL statements per GetItem:\n")
    parts.append(_table(["statement", "per get"], [[k, v] for k, v in doc["statements_per_get"].items()]))
    parts.append("\nin-process puts against concurrent writers:\n")
    parts.append(
        _table(
            ["writers", "puts/s", "p50 ms", "p99 ms", "CPU µs/put", "write tx wait mean ms",
             "write tx hold mean ms", "hold p99 ms"],
            [
                [r["concurrency"], r["puts_per_s"], r["p50_ms"], r["p99_ms"], r.get("cpu_us_per_put", "-"),
                 r["write_tx_wait_mean_ms"],
                 r["write_tx_hold_mean_ms"], r["write_tx_hold_p99_ms"]]
                for r in doc["concurrency"]
            ],
        )
    )
    return "\n".join(parts)


def suite_report(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    parts = [
        f"# globaltables benchmark, {doc.get('started_at', '')}",
        f"\nmachine: {m.get('cpus')} CPUs ({m.get('cpu_model')}), {m.get('memory_gib')} GiB, "
        f"{m.get('root_fs')}, Linux {m.get('kernel')}, Python {m.get('python')}; "
        f"fsync p50/p99 {m.get('fsync_p50_ms')}/{m.get('fsync_p99_ms')} ms; "
        f"load average at start {m.get('load_avg_at_start')}",
    ]
    cfg = doc.get("config", {})
    parts.append(
        f"settings: concurrency {cfg.get('concurrency')}, items {cfg.get('item_size')} B, key space "
        f"{cfg.get('key_space')}, {cfg.get('rounds')} interleaved rounds of {cfg.get('warmup')} s warm-up + "
        f"{cfg.get('duration')} s measured per workload and server"
    )
    if doc.get("ceiling"):
        parts.append("\n## Client ceiling (separate phase)\n\n" + ceiling_table(doc["ceiling"]))
    if doc.get("servers"):
        parts.append(
            "\n## Servers\n\n"
            + _table(
                ["server", "version", "durability of an acknowledged write", "preload s"],
                [[n, s["version"], s["durability"] or DURABILITY.get(n, ""), s.get("preload_s")] for n, s in doc["servers"].items()],
            )
        )
    for name, why in (doc.get("skipped") or {}).items():
        parts.append(f"\nskipped {name}: {why}")
    trivial = [r for r in doc.get("results", []) if r["server"] == "trivial" and "ops_per_s" in r]
    if trivial:
        parts.append(
            "\n## Client ceiling (the trivial server, interleaved with the others)\n\n"
            + _table(
                ["workload", "ops/s", "p50 ms", "p99 ms", "client CPU %", "trivial server CPU %", "other CPU %"],
                [[r["workload"], r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["client_cpu_pct"],
                  r["server_cpu_pct"], r["other_cpu_pct"]] for r in trivial],
            )
        )
    if doc.get("results"):
        rows = [r for r in doc["results"] if r["server"] != "trivial"]
        parts.append("\n## Results\n\n" + results_table(rows))
    if doc.get("ratios"):
        parts.append("\n## globaltables ÷ peer (ops/s)\n\n" + ratio_table(doc["ratios"]))
    if doc.get("replication"):
        parts.append("\n## Replication (three regions, Kafka)\n\n" + replication_tables(doc["replication"]))
    if doc.get("results"):
        parts.append("\n## Targets\n\n" + targets(doc))
    if "elapsed_s" in doc:
        parts.append(f"\nelapsed: {doc['elapsed_s']:.0f} s")
    return "\n".join(parts)
