"""The summary of bench/analytics (run through `benchlib.py analytics-report WORK_DIR RESULTS_DIR`).

WORK_DIR holds meta.json (config, environment, the seed's figures), reference.times (the full scan of the
orders), and per report <name>.request ("target_ms method path accept"; target 0: for information),
<name>.times ("run seconds" a line, run 0 the warm-up) and <name>.body (the last response).
"""

import glob
import json
import os

from benchlib import _fmt, _read, _write_results, seed_line, timed_runs

ORDER = ["dashboard", "dashboard-store", "members", "sales-month", "rfm", "lifecycle", "churn-risk",
         "churn-risk-next", "preview-main", "preview-rfm"]


def _body_note(name, body):
    """A word on what the report answered, so a figure can be told from an empty answer."""
    if name.endswith("-csv"):
        return f"{max(body.count(chr(10)) - 1, 0)} CSV rows"
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    if isinstance(doc.get("members"), int):
        return f"{doc['members']:,} members"
    for key in ("items", "rows", "cells", "stages", "months", "categories"):
        if isinstance(doc.get(key), list):
            return f"{len(doc[key])} {key}"
    if "customers" in doc and isinstance(doc["customers"], int):
        return f"{doc['customers']:,} customers"
    if "sales" in doc:
        return f"sales {doc['sales'].get('net') if isinstance(doc['sales'], dict) else doc['sales']}"
    return ""


def report(work, results_dir):
    meta = json.loads(_read(f"{work}/meta.json", "{}") or "{}")
    reference = timed_runs(f"{work}/reference.times") or {}
    reports = {}
    for request in sorted(glob.glob(f"{work}/*.request")):
        name = os.path.basename(request)[: -len(".request")]
        target, method, path, accept = (_read(request) or "0 ? ? ?").split(maxsplit=3)
        runs = timed_runs(f"{work}/{name}.times") or {}
        target_ms = float(target) or None
        worst = runs.get("max_ms")
        reports[name] = {
            "method": method, "path": path, "accept": accept.strip(), "target_ms": target_ms,
            "met": None if target_ms is None else (worst is not None and worst <= target_ms),
            "answered": _body_note(name, _read(f"{work}/{name}.body", "") or ""),
            **runs,
        }
    cfg = meta.get("config", {})
    seed = meta.get("seed", {})
    counts = seed.get("counts", {})
    full_scale = cfg.get("customers", 0) >= 1_000_000 and cfg.get("orders", 0) >= 10_000_000
    targeted = [r for r in reports.values() if r["target_ms"] is not None]
    doc = {"meta": meta, "reference_full_scan": reference, "reports": reports, "full_scale": full_scale,
           "all_targets_met": bool(targeted) and all(r["met"] for r in targeted)}
    out = _write_results(doc, results_dir, meta.get("started_at", "run"), "-analytics")

    lines = ["== bench/analytics =="]
    env = meta.get("environment", {})
    lines.append(f"machine:  {env.get('cpus')} CPUs ({env.get('cpu_model')}), PostgreSQL {env.get('postgres')}, "
                 f"commit {env.get('git_commit')}{' (dirty)' if env.get('git_dirty') else ''}")
    lines.append(f"data:     {counts.get('customers', 0):,} customers, {counts.get('memberships', 0):,} members, "
                 f"{counts.get('orders', 0):,} orders, {counts.get('order_lines', 0):,} order lines "
                 f"(a second line on {cfg.get('second_line_pct')}%); database "
                 f"{_fmt((counts.get('database_bytes') or 0) / 2**30, ' GiB', 2)}")
    lines.append(f"derived:  {counts.get('customer_activity', 0):,} customers with orders, {counts.get('sales_daily', 0):,} "
                 f"sales_daily rows, {counts.get('co_purchases', 0):,} co-purchase pairs, "
                 f"{counts.get('customer_rfm', 0):,} customers scored")
    lines.append(seed_line(seed))
    lines.append(f"          retail-crm rebuild-reports {_fmt(seed.get('rebuild_reports_seconds'), ' s')}: "
                 + "; ".join(" ".join(l.split()) for l in (seed.get("rebuild_reports") or "").splitlines() if l.strip()))
    scan = reference.get("median_ms")
    lines.append(f"reference: SELECT count(*), sum(paid_amount) FROM orders = {_fmt(scan, ' ms', 0)} median "
                 f"({', '.join(f'{v:.0f}' for v in reference.get('runs_ms', []))} ms)")
    lines.append("")
    lines.append(f"{'report':<18} {'median':>9} {'max':>9} {'of scan':>8}  target     answered")
    names = [n for n in ORDER if n in reports] + sorted(n for n in reports if n not in ORDER)
    for name in names:
        r = reports[name]
        if r.get("timed_out"):
            figures = f"{'> ' + format(r['timed_out']['after_s'], 'g') + ' s':>19}"
        else:
            figures = f"{_fmt(r.get('median_ms'), ' ms', 0):>9} {_fmt(r.get('max_ms'), ' ms', 0):>9}"
        share = (f"{r['median_ms'] / scan:>7.1%}" if scan and r.get("median_ms") is not None else f"{'?':>7}")
        target = (f"<= {r['target_ms'] / 1000:g} s {'met' if r['met'] else 'NOT MET'}" if r["target_ms"] else "info")
        lines.append(f"{name:<18} {figures} {share:>8}  {target:<15} {r['answered']}")
    lines.append("")
    verdict = "all met" if doc["all_targets_met"] else "NOT all met"
    lines.append(f"targets (each timed run under its target): {verdict}"
                 f"{'' if full_scale else '   (below the targets scale of 1 M customers / 10 M orders)'}")
    lines.append(f"results: {os.path.relpath(out)}")
    print("\n".join(lines))
