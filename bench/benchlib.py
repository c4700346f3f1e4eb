#!/usr/bin/env python3
"""Helpers for bench/orders-lookup (standard library only).

    benchlib.py free-port                      a free loopback TCP port
    benchlib.py cpu SERVICE_PID POSTMASTER_PID CPU counters now (JSON): machine, service, PostgreSQL
    benchlib.py report WORK_DIR RESULTS_DIR    the summary block (stdout) and RESULTS_DIR/<timestamp>.json
    benchlib.py segments-report WORK_DIR RESULTS_DIR
                                               the same for bench/segments-campaigns:
                                               RESULTS_DIR/<timestamp>-segments.json
    benchlib.py analytics-report WORK_DIR RESULTS_DIR
                                               the same for bench/analytics (bench/analytics_report.py):
                                               RESULTS_DIR/<timestamp>-analytics.json
    benchlib.py campaign-duty WORK_DIR         the share of one core the campaign itself took: the service's
                                               and PostgreSQL's CPU during it, less what the same lookups
                                               took per second when idle
    benchlib.py burn SHARE                     keeps SHARE of one core busy (0.1 s periods) until killed

WORK_DIR holds what the run collected: meta.json, <phase>.wrk (wrk output with a BENCH_RESULT line; the
checkout workload's also has counters: quotes, orders, orders_ok = sales, ...),
<phase>.pgbench (pgbench output), <phase>.cpu0/.cpu1 (cpu snapshots), <phase>.lsn0/.lsn1 (WAL positions),
<phase>.time (/usr/bin/time of the load generator), pgbench_<phase>_log.* (sampled transaction logs),
audit.json, and optionally <phase>.pgss / perf-<phase>.txt.

bench/segments-campaigns leaves meta.json (config, environment, the seed's figures), preview-<name>.def /
.times ("run seconds" a line, run 0 the warm-up) / .json (the last response), lookup-idle.wrk and
lookup-campaign.wrk and lookup-control.wrk (with .cpu0/.cpu1, .lsn0/.lsn1, .time), control.duty (the
share of a core the control load kept busy), campaign.poll ("elapsed decided messages status"
a line, every second from the activation) and campaign.json (the campaign's final counts); with BENCH_PGSS=1
also preview.pgss, lookup-idle.pgss and campaign.pgss (psql's aligned tables: the phase's totals, then its
top statements by total_exec_time with the query text as the last column).
"""

import datetime
import glob
import json
import os
import re
import socket
import sys

TARGET_ORDERS_RATIO = 0.6
TARGET_CHECKOUT_RATIO = 0.3  # coupon checkout: sales/s (quote + order each) / TPC-B TPS
TARGET_LOOKUP_RATIO = 0.3
TARGET_LOOKUP_P99_MS = 10.0
TARGET_PREVIEW_MS = 1000.0  # segments-campaigns: the 5-condition preview at 1 M customers / 10 M orders
TARGET_CAMPAIGN_SECONDS = 60.0  # activation to the last message of a one-off campaign to 100 k customers
TARGET_LOOKUP_P99_DURING_CAMPAIGN = 1.5  # lookup p99 while the campaign runs / idle p99


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def _proc_ticks(pid, children_too=False):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # after the ")": state is fields[0]; utime, stime, cutime, cstime are stat fields 14-17
    ticks = int(fields[11]) + int(fields[12])
    if children_too:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def _children(ppid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            kids.append(int(entry))
    return kids


def cpu(service_pid, postmaster_pid):
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    postmaster = int(postmaster_pid)
    # The postmaster's cutime/cstime hold the backends that have exited (connections closed), the
    # live backends are counted directly.
    pg = _proc_ticks(postmaster, children_too=True) + sum(_proc_ticks(k) for k in _children(postmaster))
    print(json.dumps({
        "hz": os.sysconf("SC_CLK_TCK"),
        "cpus": os.cpu_count(),
        "total": total,
        "busy": total - idle,
        "service": _proc_ticks(int(service_pid)),
        "postgres": pg,
    }))


def campaign_duty(work):
    """The campaign's own CPU as a share of one core (0 when it cannot be told)."""
    def ticks(phase):
        a, b = _read(f"{work}/{phase}.cpu0"), _read(f"{work}/{phase}.cpu1")
        if not a or not b:
            return None
        a, b = json.loads(a), json.loads(b)
        wall = (b["total"] - a["total"]) / a["hz"] / a["cpus"]
        used = (b["service"] - a["service"] + b["postgres"] - a["postgres"]) / a["hz"]
        return wall, used
    idle, during = ticks("lookup-idle"), ticks("lookup-campaign")
    if not idle or not during or idle[0] <= 0 or during[0] <= 0:
        print(0)
        return
    own = during[1] - idle[1] / idle[0] * during[0]
    print(round(min(max(own / during[0], 0.0), 1.0), 2))


def burn(share):
    """Busy for `share` of every 0.1 s, asleep for the rest."""
    import time
    period = 0.1
    busy = period * min(max(float(share), 0.0), 1.0)
    while True:
        start = time.monotonic()
        while time.monotonic() - start < busy:
            pass
        time.sleep(max(period - (time.monotonic() - start), 0.0))


def _write_results(doc, results_dir, started, suffix):
    """Writes a run's document as RESULTS_DIR/<timestamp><suffix>.json; returns the path."""
    os.makedirs(results_dir, exist_ok=True)
    stamp = re.sub(r"[^0-9T]", "", started.split(".")[0].split("+")[0])
    out = os.path.join(results_dir, f"{stamp}{suffix}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return out


def _read(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return default


def _cpu_split(work, phase, wall_s, loadgen_cpu_s):
    a, b = _read(f"{work}/{phase}.cpu0"), _read(f"{work}/{phase}.cpu1")
    if not a or not b:
        return None
    a, b = json.loads(a), json.loads(b)
    hz, cpus = a["hz"], a["cpus"]
    total_s = (b["total"] - a["total"]) / hz  # cpu-seconds available (all cores)
    if total_s <= 0:
        return None
    busy = (b["busy"] - a["busy"]) / hz
    service = (b["service"] - a["service"]) / hz
    pg = (b["postgres"] - a["postgres"]) / hz
    split = {
        "cores": cpus,
        "machine_busy_pct": round(100 * busy / total_s, 1),
        "service_cpu_s": round(service, 1),
        "postgres_cpu_s": round(pg, 1),
    }
    if loadgen_cpu_s is not None:
        split["load_generator_cpu_s"] = round(loadgen_cpu_s, 1)
        split["other_cpu_s"] = round(max(busy - service - pg - loadgen_cpu_s, 0), 1)
    else:
        split["load_generator_and_other_cpu_s"] = round(max(busy - service - pg, 0), 1)
    return split


def _time_file(work, phase):
    text = _read(f"{work}/{phase}.time")
    if not text:
        return None
    try:
        _, user, system = text.strip().splitlines()[-1].split()
        return float(user) + float(system)
    except ValueError:
        return None


def _wal(work, phase, txs):
    a, b = _read(f"{work}/{phase}.lsn0"), _read(f"{work}/{phase}.lsn1")
    if not a or not b or not txs:
        return None

    def lsn(text):
        hi, lo = text.strip().split("/")
        return (int(hi, 16) << 32) + int(lo, 16)

    return round((lsn(b) - lsn(a)) / txs)


def _percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def api_phase(work, phase):
    text = _read(f"{work}/{phase}.wrk")
    if text is None:
        return None
    m = re.search(r"^BENCH_RESULT (\{.*\})\s*$", text, re.M)
    if not m:
        return {"error": "no BENCH_RESULT line in the wrk output", "output_tail": text[-2000:]}
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    lat = r["latency_us"]
    ok = r["requests"] - r["non2xx"]
    socket_errors = sum(r["socket_errors"].values())
    result = {
        "requests": r["requests"],
        "ok_2xx": ok,
        "non_2xx": r["non2xx"],
        "non_2xx_by_status": r["statuses"],
        "socket_errors": r["socket_errors"],
        "seconds": round(secs, 2),
        "throughput_rps": round(r["requests"] / secs, 1) if secs else 0,
        "throughput_2xx_rps": round(ok / secs, 1) if secs else 0,
        "latency_ms": {k: round(v / 1000, 2) for k, v in lat.items()},
    }
    if r["non2xx"] or socket_errors:
        result["first_error_body"] = r.get("first_error", "")
    if "counters" in r:
        result["counters"] = r["counters"]
    loadgen = _time_file(work, phase)
    cpu = _cpu_split(work, phase, secs, loadgen)
    if cpu:
        result["cpu"] = cpu
        if ok:
            result["cpu_ms_per_request"] = {
                "service": round(1000 * cpu["service_cpu_s"] / ok, 3),
                "postgres": round(1000 * cpu["postgres_cpu_s"] / ok, 3),
            }
    wal = _wal(work, phase, ok)
    if wal is not None:
        result["wal_bytes_per_request"] = wal
    pgss = _read(f"{work}/{phase}.pgss")
    if pgss and ok:
        # first table of the dump: total statements | total exec ms | WAL MB (retail_crm database)
        m = re.search(r"^\s*(\d+) \|\s*(\d+) \|", pgss, re.M)
        if m:
            result["pg_stat_statements"] = {
                "statements_per_request": round(int(m.group(1)) / ok, 2),
                "exec_ms_per_request": round(int(m.group(2)) / ok, 3),
            }
    return result


def checkout_phase(work, phase="checkout"):
    """The checkout workload: api_phase (per request: quotes and orders) plus per sale (a completed order)."""
    result = api_phase(work, phase)
    if not result or "error" in result:
        return result
    c = result.get("counters", {})
    sales = c.get("orders_ok", 0)
    secs = result["seconds"]
    result["sales"] = sales
    result["sales_per_s"] = round(sales / secs, 1) if secs else 0
    result["quotes"] = c.get("quotes", 0)
    result["quotes_ok"] = c.get("quotes_ok", 0)
    result["orders"] = c.get("orders", 0)
    result["coupon_not_applied"] = c.get("coupon_not_applied", 0)
    result["unparsed_quotes"] = c.get("unparsed_quotes", 0)
    result["coupon_pool_exhausted"] = bool(c.get("coupons_exhausted", 0))
    if (result["coupon_not_applied"] or result["unparsed_quotes"]) and not result.get("first_error_body"):
        m = re.search(r"^BENCH_RESULT (\{.*\})\s*$", _read(f"{work}/{phase}.wrk", ""), re.M)
        result["first_error_body"] = json.loads(m.group(1)).get("first_error", "") if m else ""
    cpu = result.get("cpu")
    if cpu and sales:
        result["cpu_ms_per_sale"] = {
            "service": round(1000 * cpu["service_cpu_s"] / sales, 3),
            "postgres": round(1000 * cpu["postgres_cpu_s"] / sales, 3),
        }
    wal = _wal(work, phase, sales)
    if wal is not None:
        result["wal_bytes_per_sale"] = wal
    pgss = _read(f"{work}/{phase}.pgss")
    if pgss and sales:
        m = re.search(r"^\s*(\d+) \|\s*(\d+) \|", pgss, re.M)
        if m:
            result["pg_stat_statements_per_sale"] = {
                "statements": round(int(m.group(1)) / sales, 2),
                "exec_ms": round(int(m.group(2)) / sales, 3),
            }
    return result


def pgbench_phase(work, phase):
    text = _read(f"{work}/{phase}.pgbench")
    if text is None:
        return None
    result = {}
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    if not m:
        return {"error": "no tps line in the pgbench output", "output_tail": text[-2000:]}
    result["tps"] = round(float(m.group(1)), 1)
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    txs = int(m.group(1)) if m else None
    result["transactions"] = txs
    m = re.search(r"number of failed transactions: (\d+)", text)
    result["failed"] = int(m.group(1)) if m else 0
    m = re.search(r"latency average = ([0-9.]+) ms", text)
    lat = {"mean": float(m.group(1))} if m else {}
    # Latency percentiles from the sampled per-transaction log (field 3: latency in µs).
    samples = []
    for path in glob.glob(f"{work}/pgbench_{phase}_log*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    samples.append(int(parts[2]))
    samples.sort()
    if samples:
        lat["p50"] = round(_percentile(samples, 50) / 1000, 2)
        lat["p99"] = round(_percentile(samples, 99) / 1000, 2)
        result["latency_sampled_transactions"] = len(samples)
    result["latency_ms"] = lat
    m = re.search(r"duration: (\d+) s", text)
    secs = int(m.group(1)) if m else None
    cpu = _cpu_split(work, phase, secs, _time_file(work, phase))
    if cpu:
        result["cpu"] = cpu
        if txs:
            result["cpu_ms_per_transaction"] = {"postgres": round(1000 * cpu["postgres_cpu_s"] / txs, 3)}
    wal = _wal(work, phase, txs)
    if wal is not None:
        result["wal_bytes_per_transaction"] = wal
    return result


def _fmt(v, unit="", nd=1):
    if v is None:
        return "n/a"
    return f"{v:,.{nd}f}{unit}"


def _checkout_lines(r, cfg):
    """The coupon checkout block of the summary (nothing when the workload did not run)."""
    label = "checkout: quote + order"
    if r is None:
        return []
    if "error" in r:
        return [f"{label:<26} ERROR: {r['error']}"]
    lat = r["latency_ms"]
    socket_errors = sum(r["socket_errors"].values())
    detail = ""
    if r["non_2xx"]:
        detail = " (" + ", ".join(f"{k}: {v}" for k, v in sorted(r["non_2xx_by_status"].items())) + ")"
    mode = "reserved" if cfg.get("checkout_reserve") else "coupon + 100 points"
    out = [
        f"{label:<26} {_fmt(r['sales_per_s'], ' sales/s'):>16}   p50 {_fmt(lat['p50'], ' ms', 2)}   "
        f"p99 {_fmt(lat['p99'], ' ms', 2)} per request   {r['sales']:,} sales ({mode})",
        f"{'':<26} {_fmt(r['throughput_2xx_rps'], ' req/s'):>14}   {r['quotes']:,} quotes, {r['orders']:,} orders; "
        f"{r['ok_2xx']:,} ok, {r['non_2xx']:,} non-2xx{detail}, {socket_errors} socket errors",
    ]
    problems = []
    if r.get("coupon_not_applied"):
        problems.append(f"{r['coupon_not_applied']:,} quotes did not apply the coupon")
    if r.get("unparsed_quotes"):
        problems.append(f"{r['unparsed_quotes']:,} quotes could not be read")
    if r.get("coupon_pool_exhausted"):
        problems.append("the coupon pool ran out: sales/s is undercounted, raise BENCH_COUPONS")
    if problems:
        out.append(f"{'':<26} WARNING: " + "; ".join(problems))
    if (r["non_2xx"] or socket_errors or problems) and r.get("first_error_body"):
        out.append(f"{'':<26} first error: {r['first_error_body'][:200]}")
    return out


def report(work, results_dir):
    meta = json.loads(_read(f"{work}/meta.json", "{}"))
    orders = api_phase(work, "orders")
    lookup = api_phase(work, "lookup")
    checkout = checkout_phase(work)
    tpcb = pgbench_phase(work, "tpcb")
    select = pgbench_phase(work, "select")
    audit = json.loads(_read(f"{work}/audit.json", "null") or "null")

    def ratio(api, pg):
        if not api or not pg or "error" in api or "error" in pg or not pg.get("tps"):
            return None
        return round(api["throughput_2xx_rps"] / pg["tps"], 3)

    orders_ratio = ratio(orders, tpcb)
    checkout_ratio = None
    if checkout and "error" not in checkout and tpcb and "error" not in tpcb and tpcb.get("tps"):
        checkout_ratio = round(checkout["sales_per_s"] / tpcb["tps"], 3)
    lookup_ratio = ratio(lookup, select)
    lookup_p99 = (lookup or {}).get("latency_ms", {}).get("p99")
    targets = {
        "orders_vs_tpcb": {
            "ratio": orders_ratio, "target": f">= {TARGET_ORDERS_RATIO}",
            "met": orders_ratio is not None and orders_ratio >= TARGET_ORDERS_RATIO,
        },
        "checkout_sales_vs_tpcb": {
            "ratio": checkout_ratio, "target": f">= {TARGET_CHECKOUT_RATIO}",
            "met": checkout_ratio is not None and checkout_ratio >= TARGET_CHECKOUT_RATIO,
        },
        "lookup_vs_select_only": {
            "ratio": lookup_ratio, "target": f">= {TARGET_LOOKUP_RATIO}",
            "met": lookup_ratio is not None and lookup_ratio >= TARGET_LOOKUP_RATIO,
        },
        "lookup_p99": {
            "ms": lookup_p99, "target": f"<= {TARGET_LOOKUP_P99_MS} ms",
            "met": lookup_p99 is not None and lookup_p99 <= TARGET_LOOKUP_P99_MS,
        },
    }
    started = meta.get("started_at") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    doc = {
        "benchmark": "bench/orders-lookup",
        "started_at": started,
        "config": meta.get("config", {}),
        "environment": meta.get("environment", {}),
        "seed_seconds": meta.get("seed_seconds"),
        "coupon_seed_seconds": meta.get("coupon_seed_seconds"),
        "orders": orders,
        "lookup": lookup,
        "checkout": checkout,
        "pgbench_tpcb": tpcb,
        "pgbench_select_only": select,
        "targets": targets,
        "ledger_audit": audit,
    }
    out = _write_results(doc, results_dir, started, "")

    cfg = doc["config"]
    env = doc["environment"]
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = []
    lines.append("=== retail-crm bench/orders-lookup ===")
    lines.append(f"when:     {started}   commit {env.get('git_commit', '?')}{' (dirty tree)' if env.get('git_dirty') else ''}")
    lines.append(f"machine:  {env.get('cpus', '?')} cores, {env.get('cpu_model', '?')}; PostgreSQL {env.get('postgres', '?')} "
                 f"(embedded, fsync on, max_connections 200)")
    lines.append(f"setup:    {cfg.get('members', '?'):,} members ({cfg.get('history_orders_per_member', 0)} past orders each) "
                 f"seeded in {_fmt(doc['seed_seconds'], ' s')}; "
                 f"{cfg.get('clients')} clients, {cfg.get('threads')} load threads, {cfg.get('seconds')} s per workload, "
                 f"pool {cfg.get('pool_size')}, redeem on {cfg.get('redeem_pct')}% of orders")
    lines.append("")
    for name, label, r in (("orders", "POST /v1/orders", orders), ("checkout", None, checkout),
                           ("lookup", "GET /v1/customers/lookup", lookup)):
        if name == "checkout":
            lines.extend(_checkout_lines(checkout, cfg))
            continue
        if not r:
            lines.append(f"{label:<26} not run")
            continue
        if "error" in r:
            lines.append(f"{label:<26} ERROR: {r['error']}")
            continue
        lat = r["latency_ms"]
        errs = r["non_2xx"] + sum(r["socket_errors"].values())
        detail = ""
        if r["non_2xx"]:
            detail = " (" + ", ".join(f"{k}: {v}" for k, v in sorted(r["non_2xx_by_status"].items())) + ")"
        lines.append(f"{label:<26} {_fmt(r['throughput_2xx_rps'], ' req/s'):>14}   p50 {_fmt(lat['p50'], ' ms', 2)}   "
                     f"p99 {_fmt(lat['p99'], ' ms', 2)}   {r['ok_2xx']:,} ok, {r['non_2xx']:,} non-2xx{detail}, "
                     f"{sum(r['socket_errors'].values())} socket errors")
        if errs and r.get("first_error_body"):
            lines.append(f"{'':<26} first error: {r['first_error_body'][:200]}")
    for label, r in ((f"pgbench TPC-B (-s {cfg.get('pgbench_scale', '?')})", tpcb), ("pgbench select-only (-S)", select)):
        if not r:
            lines.append(f"{label:<26} not run")
            continue
        if "error" in r:
            lines.append(f"{label:<26} ERROR: {r['error']}")
            continue
        lat = r["latency_ms"]
        lines.append(f"{label:<26} {_fmt(r['tps'], ' tps'):>14}   p50 {_fmt(lat.get('p50'), ' ms', 2)}   "
                     f"p99 {_fmt(lat.get('p99'), ' ms', 2)}   {r['transactions'] or 0:,} tx, {r['failed']} failed")
    lines.append("")
    t = targets
    lines.append(f"orders / TPC-B        = {_fmt(orders_ratio, '', 3):>6}   (target >= {TARGET_ORDERS_RATIO})   "
                 f"{mark(t['orders_vs_tpcb']['met'])}")
    if checkout is not None:
        lines.append(f"checkout / TPC-B      = {_fmt(checkout_ratio, '', 3):>6}   (target >= {TARGET_CHECKOUT_RATIO}, "
                     f"sales/s)   {mark(t['checkout_sales_vs_tpcb']['met'])}"
                     f"{'   (the coupon pool ran out: undercounted)' if checkout.get('coupon_pool_exhausted') else ''}")
    lines.append(f"lookup / select-only  = {_fmt(lookup_ratio, '', 3):>6}   (target >= {TARGET_LOOKUP_RATIO})   "
                 f"{mark(t['lookup_vs_select_only']['met'])}")
    lines.append(f"lookup p99            = {_fmt(lookup_p99, ' ms', 2):>9}   (target <= {TARGET_LOOKUP_P99_MS:g} ms)   "
                 f"{mark(t['lookup_p99']['met'])}")
    lines.append("")
    lines.append("where the CPU went (cpu-seconds over each measured phase; machine busy %):")
    for label, r in (("orders", orders), ("lookup", lookup), ("checkout", checkout), ("TPC-B", tpcb),
                     ("select-only", select)):
        c = (r or {}).get("cpu")
        if not c:
            continue
        if "load_generator_cpu_s" in c:
            lg = f"load generator {c['load_generator_cpu_s']:5.1f}  other {c['other_cpu_s']:5.1f}"
        else:
            lg = f"load generator + other {c['load_generator_and_other_cpu_s']:5.1f}"
        extra = ""
        if "cpu_ms_per_sale" in r:
            per = r["cpu_ms_per_sale"]
            extra = f"CPU per sale: {per['service']:.3f} ms service + {per['postgres']:.3f} ms PostgreSQL"
        elif "cpu_ms_per_request" in r:
            per = r["cpu_ms_per_request"]
            extra = f"CPU per request: {per['service']:.3f} ms service + {per['postgres']:.3f} ms PostgreSQL"
        elif "cpu_ms_per_transaction" in r:
            extra = f"CPU per transaction: {r['cpu_ms_per_transaction']['postgres']:.3f} ms PostgreSQL"
        if "pg_stat_statements_per_sale" in r:
            st = r["pg_stat_statements_per_sale"]
            extra += (f"; {st['statements']:.1f} SQL statements, {st['exec_ms']:.3f} ms executing them")
        elif "pg_stat_statements" in r:
            st = r["pg_stat_statements"]
            extra += (f"; {st['statements_per_request']:.1f} SQL statements, "
                      f"{st['exec_ms_per_request']:.3f} ms executing them")
        wal = r.get("wal_bytes_per_sale", r.get("wal_bytes_per_request", r.get("wal_bytes_per_transaction")))
        wal_s = f", WAL {wal:,} B/{'sale' if 'wal_bytes_per_sale' in r else 'tx'}" if wal is not None else ""
        lines.append(f"  {label:<12} busy {c['machine_busy_pct']:5.1f}%  service {c['service_cpu_s']:6.1f}  "
                     f"postgres {c['postgres_cpu_s']:6.1f}  {lg}{wal_s}")
        if extra:
            lines.append(f"  {'':<13}{extra}")
    for label, r in (("orders", orders), ("lookup", lookup), ("checkout", checkout), ("TPC-B", tpcb),
                     ("select-only", select)):
        c = (r or {}).get("cpu") or {}
        other = c.get("other_cpu_s")
        busy_s = c.get("service_cpu_s", 0) + c.get("postgres_cpu_s", 0) + c.get("load_generator_cpu_s", 0) + (other or 0)
        if other is not None and busy_s and other > 0.1 * busy_s:
            lines.append(f"WARNING: other processes took {other:.1f} cpu-s during {label} "
                         f"({100 * other / busy_s:.0f}% of the busy time): that figure is disturbed, rerun on an idle machine")
    if audit is not None:
        if isinstance(audit, dict) and "accounts_checked" in audit:
            n = len(audit.get("violations") or [])
            lines.append(f"ledger audit: {audit['accounts_checked']:,} accounts checked, {n} violations"
                         f"{' (truncated)' if audit.get('truncated') else ''}")
        else:
            lines.append(f"ledger audit: {audit.get('note', 'not available') if isinstance(audit, dict) else audit}")
    lines.append(f"results: {os.path.relpath(out)}")
    print("\n".join(lines))


def timed_runs(path):
    """A .times file ("run seconds" a line, run 0 the warm-up; "run timeout seconds" for a run abandoned, after
    which none ran): the warm-up and the timed runs in ms, and their min, median and max; None when missing."""
    times = _read(path)
    if times is None:
        return None
    runs = []
    warmup = None
    timed_out = None
    for line in times.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "timeout":
            timed_out = {"run": int(parts[0]), "after_s": float(parts[2])}
        elif len(parts) == 2:
            ms = round(float(parts[1]) * 1000, 1)
            if parts[0] == "0":
                warmup = ms
            else:
                runs.append(ms)
    ordered = sorted(runs)
    if timed_out:
        # The median of the runs that finished would flatter it: a timed-out request has no figures.
        ordered = []
    return {
        "warmup_ms": warmup,
        "runs_ms": runs,
        "timed_out": timed_out,
        "min_ms": ordered[0] if ordered else None,
        "median_ms": ordered[len(ordered) // 2] if len(ordered) % 2 else
        (round((ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2, 1) if ordered else None),
        "max_ms": ordered[-1] if ordered else None,
    }


def seed_line(seed):
    """The seed of bench/lib.sh (seed_history) in one line: COPY and its rate, then each step's time."""
    copy = seed.get("copy", {})
    rate = seed["copy_rows"] / seed["copy_seconds"] if seed.get("copy_seconds") else None
    return (f"seed:     {_fmt(seed.get('seconds'), ' s')} in all: COPY {seed.get('copy_rows', 0):,} rows in "
            f"{_fmt(seed.get('copy_seconds'), ' s')} ({_fmt(rate, ' rows/s', 0)}; "
            + ", ".join(f"{t} {_fmt(c['rows'] / c['seconds'] if c.get('seconds') else None, '/s', 0)}"
                        for t, c in copy.items())
            + f"), memberships + tag {_fmt(seed.get('finish_seconds'), ' s')}, "
            f"rebuild-reports {_fmt(seed.get('rebuild_reports_seconds'), ' s')}, "
            f"{seed.get('secondary_indexes', '?')} indexes {_fmt(seed.get('index_seconds'), ' s')}, "
            f"VACUUM ANALYZE + CHECKPOINT {_fmt(seed.get('vacuum_checkpoint_seconds'), ' s')}")


def _preview(work, name):
    """One preview definition: its timed runs (ms; the warm-up apart), the count and the steps."""
    runs = timed_runs(f"{work}/preview-{name}.times")
    if runs is None:
        return None
    body = json.loads(_read(f"{work}/preview-{name}.json", "{}") or "{}")
    return {
        "definition": json.loads(_read(f"{work}/preview-{name}.def", "null") or "null"),
        "customers": body.get("customers"),
        "steps": [s.get("customers") for s in body.get("steps", [])],
        **runs,
    }


def _campaign(work):
    """The campaign's final counts, with the times read off the poll: all decided, the last message, completed."""
    final = json.loads(_read(f"{work}/campaign.json", "null") or "null")
    poll = []
    for line in (_read(f"{work}/campaign.poll", "") or "").splitlines():
        parts = line.split()
        if len(parts) == 4:
            poll.append((float(parts[0]), int(parts[1]), int(parts[2]), parts[3]))
    if final is None:
        return None

    def first(pred):
        return next((round(t, 2) for (t, d, m, s) in poll if pred(d, m, s)), None)

    audience = final.get("audience")
    messages = final.get("messages", 0)
    result = dict(final)
    result["polls"] = len(poll)
    result["all_decided_s"] = first(lambda d, m, s: d >= audience)
    result["last_message_s"] = first(lambda d, m, s: m >= messages) if messages else None
    result["completed_s"] = first(lambda d, m, s: s == "completed")
    result["first_decision_s"] = first(lambda d, m, s: d > 0)
    last = result["last_message_s"]
    result["messages_per_s"] = round(messages / last, 1) if messages and last else None
    done = result["all_decided_s"]
    result["decisions_per_s"] = round(final.get("decided", 0) / done, 1) if done else None
    return result


def _pgss_tables(text):
    """The tables of psql's aligned output, as lists of {column: text}; lines outside a table are skipped."""
    lines = text.splitlines()
    tables = []
    i = 0
    while i + 1 < len(lines):
        if "|" in lines[i] and re.fullmatch(r"-+(\+-+)+", lines[i + 1].strip()):
            header = [h.strip() for h in lines[i].split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip() and not re.fullmatch(r"\(\d+ rows?\)", lines[i].strip()):
                # The last column (the query) may hold a "|" itself: split the others off.
                rows.append(dict(zip(header, (c.strip() for c in lines[i].split("|", len(header) - 1)))))
                i += 1
            tables.append(rows)
        i += 1
    return tables


def _pgss(work, phase, per=None):
    """<phase>.pgss of bench/segments-campaigns: the totals and the top statements; each statement's total_ms / per
    as ms_per_customer when per is given. None when the file is absent or unreadable."""
    text = _read(f"{work}/{phase}.pgss")
    if not text:
        return None

    def num(v):
        if v in (None, ""):
            return None
        try:
            return int(v)
        except ValueError:
            return float(v)

    tables = _pgss_tables(text)
    if len(tables) < 2 or not tables[0]:
        return None
    totals = {k: num(v) for k, v in tables[0][0].items()}
    top = []
    for row in tables[1]:
        st = {k: (v if k in ("tag", "query") else num(v)) for k, v in row.items()}
        if per and st.get("total_ms") is not None:
            st["ms_per_customer"] = round(st["total_ms"] / per, 4)
        top.append(st)
    result = dict(totals)
    if per:
        result["customers"] = per
        for k in ("exec_ms", "untagged_exec_ms"):
            if totals.get(k) is not None:
                result[k.replace("exec_ms", "exec_ms_per_customer")] = round(totals[k] / per, 4)
    result["top"] = top
    return result


def _pgss_lines(p, label, name, rows=10):
    """The summary's short block of a phase's top statements (p from _pgss with per)."""
    per = p.get("customers")
    lines = [f"{label}: {p.get('statements') or 0:,} statements, {_fmt(p.get('exec_ms'), ' ms', 0)} executing"
             + (f" ({_fmt(p.get('exec_ms_per_customer'), ' ms', 3)}/customer decided)" if per else "")
             + f"; untagged (not the lookups' nor the bench's) {_fmt(p.get('untagged_exec_ms'), ' ms', 0)}"
             + (f" ({_fmt(p.get('untagged_exec_ms_per_customer'), ' ms', 3)}/customer)" if per else "")
             + (f"; WAL {_fmt(p.get('wal_mb'), ' MB', 1)}" if p.get("wal_mb") is not None else "")]
    lines.append(f"  {'calls':>9} {'total ms':>10} {'ms/call':>9} {'ms/cust':>8}  {'tag':<6} statement")
    for st in p["top"][:rows]:
        q = st.get("query") or ""
        lines.append(f"  {st.get('calls') or 0:>9,} {_fmt(st.get('total_ms'), '', 0):>10} {_fmt(st.get('mean_ms'), '', 3):>9} "
                     f"{_fmt(st.get('ms_per_customer'), '', 4):>8}  {st.get('tag') or '':<6} "
                     f"{q[:120] + ('…' if len(q) > 120 else '')}")
    if len(p["top"]) > rows:
        lines.append(f"  ({rows} of the top {len(p['top'])} shown; all of them in {name}, with rows, blocks and WAL)")
    return lines


def segments_report(work, results_dir):
    meta = json.loads(_read(f"{work}/meta.json", "{}"))
    previews = {name: _preview(work, name) for name in ("main", "lifecycle", "bought")}
    idle = api_phase(work, "lookup-idle")
    during = api_phase(work, "lookup-campaign")
    control = api_phase(work, "lookup-control")
    control_duty = _read(f"{work}/control.duty")
    control_duty = float(control_duty) if control_duty else None
    campaign = _campaign(work)
    # pg_stat_statements (BENCH_PGSS=1): the campaign's statements per customer decided.
    decided = (campaign or {}).get("decided") or (campaign or {}).get("audience")
    pgss = {"preview": _pgss(work, "preview"), "campaign": _pgss(work, "campaign", decided)}
    pgss = {k: v for k, v in pgss.items() if v}
    cfg = meta.get("config", {})
    env = meta.get("environment", {})
    seed = meta.get("seed", {})

    main = previews.get("main") or {}
    p99_idle = (idle or {}).get("latency_ms", {}).get("p99")
    p99_during = (during or {}).get("latency_ms", {}).get("p99")
    p99_ratio = round(p99_during / p99_idle, 2) if p99_idle and p99_during is not None else None
    p99_control = (control or {}).get("latency_ms", {}).get("p99")
    control_ratio = round(p99_control / p99_idle, 2) if p99_idle and p99_control is not None else None
    last_message = (campaign or {}).get("last_message_s")
    everyone = bool(campaign) and campaign.get("decided") == campaign.get("audience")
    full_scale = cfg.get("customers", 0) >= 1_000_000 and cfg.get("orders", 0) >= 10_000_000
    full_audience = cfg.get("campaign_audience", 0) >= 100_000
    targets = {
        "preview_median_ms": {
            "ms": main.get("median_ms"), "target": f"<= {TARGET_PREVIEW_MS:g} ms at 1 M customers / 10 M orders",
            "met": main.get("median_ms") is not None and main["median_ms"] <= TARGET_PREVIEW_MS,
            "timed_out": bool(main.get("timed_out")),
            "at_target_scale": full_scale,
        },
        "campaign_last_message_s": {
            "seconds": last_message, "target": f"<= {TARGET_CAMPAIGN_SECONDS:g} s for 100 k customers",
            "met": everyone and last_message is not None and last_message <= TARGET_CAMPAIGN_SECONDS,
            "at_target_scale": full_audience,
        },
        "lookup_p99_during_campaign_ratio": {
            "ratio": p99_ratio, "target": f"<= {TARGET_LOOKUP_P99_DURING_CAMPAIGN:g} x idle",
            "met": p99_ratio is not None and p99_ratio <= TARGET_LOOKUP_P99_DURING_CAMPAIGN,
        },
    }
    started = meta.get("started_at") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    doc = {
        "benchmark": "bench/segments-campaigns",
        "started_at": started,
        "config": cfg,
        "environment": env,
        "seed": seed,
        "previews": previews,
        "lookup_idle": idle,
        "lookup_during_campaign": during,
        "lookup_beside_control_load": control,
        "control_load_core_share": control_duty,
        "campaign": campaign,
        "targets": targets,
    }
    if pgss:
        doc["pg_stat_statements"] = pgss
    out = _write_results(doc, results_dir, started, "-segments")

    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    counts = seed.get("counts", {})
    lines = ["=== retail-crm bench/segments-campaigns ==="]
    lines.append(f"when:     {started}   commit {env.get('git_commit', '?')}{' (dirty tree)' if env.get('git_dirty') else ''}")
    lines.append(f"machine:  {env.get('cpus', '?')} cores, {env.get('cpu_model', '?')}; PostgreSQL {env.get('postgres', '?')} "
                 f"(embedded, fsync on)")
    lines.append(f"data:     {counts.get('customers', 0):,} customers ({counts.get('customers_with_phone', 0):,} with a phone, "
                 f"{counts.get('customers_sms_granted', 0):,} with marketing_sms), {counts.get('memberships', 0):,} members, "
                 f"{counts.get('orders', 0):,} orders, {counts.get('order_lines', 0):,} order lines"
                 f"{'' if cfg.get('line_pct', 100) == 100 else ' (lines for ' + str(cfg.get('line_pct')) + '% of the orders only)'}")
    lines.append(f"          activity: {counts.get('customer_activity', 0):,} customers with orders, "
                 f"{counts.get('customer_categories', 0):,} customer-categories; database "
                 f"{_fmt((counts.get('database_bytes') or 0) / 2**30, ' GiB', 2)}")
    lines.append(seed_line(seed))
    lines.append("")
    labels = {"main": "preview: 5 conditions", "lifecycle": "preview: lifecycle_stage", "bought": "preview: category+spend"}
    for name, p in previews.items():
        if not p:
            lines.append(f"{labels[name]:<28} not run")
            continue
        if p.get("timed_out"):
            t = p["timed_out"]
            lines.append(f"{labels[name]:<28} TIMED OUT: run {t['run']} ({'the warm-up' if t['run'] == 0 else 'timed'}) "
                         f"took over {t['after_s']:g} s; its query was cancelled and the remaining runs skipped"
                         f"{'' if not p['runs_ms'] else ' (finished runs: ' + '/'.join(f'{m:.0f}' for m in p['runs_ms']) + ' ms)'}")
            continue
        steps = " → ".join(f"{s:,}" for s in p["steps"] if s is not None)
        lines.append(f"{labels[name]:<28} min {_fmt(p['min_ms'], ' ms', 0):>8}  median {_fmt(p['median_ms'], ' ms', 0):>8}  "
                     f"max {_fmt(p['max_ms'], ' ms', 0):>8}  ({len(p['runs_ms'])} runs, warm-up {_fmt(p['warmup_ms'], ' ms', 0)})  "
                     f"{p['customers'] if p['customers'] is None else format(p['customers'], ',')} customers  [{steps}]")
    lines.append("")
    delay = cfg.get("lookup_delay_ms") or 0
    lines.append(f"lookup load: {cfg.get('clients')} clients, "
                 + (f"{delay} ms between each client's requests (a steady till load)" if delay
                    else "as many lookups as the machine serves (saturating)"))
    for label, r in (("lookup, idle", idle), ("lookup, during campaign", during), ("lookup, beside control load", control)):
        if not r:
            lines.append(f"{label:<28} not run")
            continue
        if "error" in r:
            lines.append(f"{label:<28} ERROR: {r['error']}")
            continue
        lat = r["latency_ms"]
        detail = ""
        if r["non_2xx"]:
            detail = " (" + ", ".join(f"{k}: {v}" for k, v in sorted(r["non_2xx_by_status"].items())) + ")"
        lines.append(f"{label:<28} {_fmt(r['throughput_2xx_rps'], ' req/s'):>14}   p50 {_fmt(lat['p50'], ' ms', 2)}   "
                     f"p99 {_fmt(lat['p99'], ' ms', 2)}   max {_fmt(lat['max'], ' ms', 1)}   {r['ok_2xx']:,} ok in "
                     f"{r['seconds']} s, {r['non_2xx']:,} non-2xx{detail}, {sum(r['socket_errors'].values())} socket errors")
        if (r["non_2xx"] or sum(r["socket_errors"].values())) and r.get("first_error_body"):
            lines.append(f"{'':<28} first error: {r['first_error_body'][:200]}")
    if campaign:
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted((campaign.get("outcomes") or {}).items()))
        lines.append(f"{'campaign':<28} {campaign.get('decided', 0):,} of {campaign.get('audience', 0):,} decided ({outcomes}); "
                     f"{campaign.get('messages', 0):,} messages, {campaign.get('coupons_issued', 0):,} coupons; "
                     f"status {campaign.get('status')}")
        lines.append(f"{'':<28} first decision {_fmt(campaign.get('first_decision_s'), ' s', 1)}, all decided "
                     f"{_fmt(campaign.get('all_decided_s'), ' s', 1)}, last message {_fmt(last_message, ' s', 1)}, "
                     f"completed {_fmt(campaign.get('completed_s'), ' s', 1)} after the activation (polled every second): "
                     f"{_fmt(campaign.get('messages_per_s'), ' messages/s', 0)}")
        c = (during or {}).get("cpu")
        if c:
            lines.append(f"{'':<28} CPU during the run: service {c['service_cpu_s']:.1f} s, PostgreSQL {c['postgres_cpu_s']:.1f} s, "
                         f"machine busy {c['machine_busy_pct']:.0f}%")
    if pgss.get("campaign"):
        lines.append("")
        lines.extend(_pgss_lines(pgss["campaign"], "campaign, top statements (pg_stat_statements)", "campaign.pgss"))
    lines.append("")
    t = targets
    scale_note = lambda ok: "" if ok else "   (below the target's scale)"  # noqa: E731
    main_figure = (f"> {main['timed_out']['after_s'] * 1000:,.0f} ms (timed out)" if main.get("timed_out")
                   else f"{_fmt(main.get('median_ms'), ' ms', 0):>9} median")
    lines.append(f"preview (5 conditions) = {main_figure}   (target <= {TARGET_PREVIEW_MS:g} ms)   "
                 f"{mark(t['preview_median_ms']['met'])}{scale_note(full_scale)}")
    lines.append(f"campaign last message  = {_fmt(last_message, ' s', 1):>9}          (target <= {TARGET_CAMPAIGN_SECONDS:g} s)   "
                 f"{mark(t['campaign_last_message_s']['met'])}{scale_note(full_audience)}"
                 f"{'' if everyone else '   (not every audience customer was decided)'}")
    lines.append(f"lookup p99 campaign/idle = {_fmt(p99_ratio, 'x', 2):>7}  ({_fmt(p99_during, ' ms', 2)} / "
                 f"{_fmt(p99_idle, ' ms', 2)})   (target <= {TARGET_LOOKUP_P99_DURING_CAMPAIGN:g}x)   "
                 f"{mark(t['lookup_p99_during_campaign_ratio']['met'])}")
    if control_ratio is not None:
        lines.append(f"control: lookup p99 beside a plain CPU load at nice 19 of {_fmt(control_duty, '', 2)} of a core "
                     f"(the campaign's own share) = {_fmt(control_ratio, 'x', 2)} idle ({_fmt(p99_control, ' ms', 2)}): "
                     f"what any work of that size costs the lookups on this machine")
    for label, r in (("idle lookups", idle), ("the campaign", during)):
        c = (r or {}).get("cpu") or {}
        other = c.get("other_cpu_s")
        busy_s = c.get("service_cpu_s", 0) + c.get("postgres_cpu_s", 0) + c.get("load_generator_cpu_s", 0) + (other or 0)
        if other is not None and busy_s and other > 0.1 * busy_s:
            lines.append(f"WARNING: other processes took {other:.1f} cpu-s during {label} "
                         f"({100 * other / busy_s:.0f}% of the busy time): that figure is disturbed, rerun on an idle machine")
    lines.append(f"results: {os.path.relpath(out)}")
    print("\n".join(lines))


def main(argv):
    if len(argv) >= 2 and argv[1] == "free-port":
        free_port()
    elif len(argv) == 4 and argv[1] == "cpu":
        cpu(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "report":
        report(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "segments-report":
        segments_report(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "analytics-report":
        import analytics_report  # bench/analytics_report.py, beside this file

        analytics_report.report(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "campaign-duty":
        campaign_duty(argv[2])
    elif len(argv) == 3 and argv[1] == "burn":
        burn(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
