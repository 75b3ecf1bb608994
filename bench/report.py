#!/usr/bin/env python3
"""Turns the load generator's outputs of one bench/run.sh into results.json, results.md and
latency.svg. Standard library only.

  report.py machine            print the machine's specs as JSON
  report.py summary FILE       one line about one load generator output
  report.py report OUTDIR      write OUTDIR/results.{json,md} and OUTDIR/latency.svg
  report.py check OUTDIR       exit 1 if a run of our bridge lost an event or failed to open a socket

Raw files are named <scenario>--<bridge>.json (see run.sh), bridge being ours, node, floor
(Kafka alone), or ours-io1 / ours-io2 (fanout-rate); <scenario>--<bridge>.loadavg beside each
holds the machine's load average (1, 5, 15 min) before and after that run.
"""
import glob
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import time

TARGETS = {
    "throughput_frames_per_s": 100_000,
    "latency_p99_ms_at_20k": 10.0,
    "idle_rss_per_socket_bytes": 12 * 1024,
    "throughput_ratio_vs_baseline": 5.0,
    # Fixed-rate fan-out (issue 10): p99 within this of Kafka alone's p99 in the same run at
    # 1,000 x 10 and 5k events/s and at 10,000 x 1 and 20k events/s; CPU per frame at the first.
    "fanout_rate_p99_over_floor_ms": 10.0,
    "fanout_rate_cpu_us_per_frame": 5.0,
}
# (users, sockets per user, events/s) the fan-out targets apply to, and which.
FANOUT_RATE_TARGETS = {(1000, 10, 5000): ("p99", "cpu"), (10000, 1, 20000): ("p99",)}


# ---------------------------------------------------------------- machine

def source_version():
    """The commit the bridge was built from, with "+changes" if its sources differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "bridge", "consumers",
                                "ws_gateway", "schemas"], capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "fd_hard_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bridge_source": source_version(),
    }


# ---------------------------------------------------------------- one run

def summarize(d):
    """The figures the tables use, from one load generator output."""
    workers = d.get("workers", [])
    s = {
        "sockets_requested": d["sockets"]["requested"],
        "sockets_opened": d["sockets"]["opened"],
        "sockets_failed": d["sockets"]["failed"],
        "closed_early": d["sockets"]["closed_early"],
        "close_codes": d["sockets"]["close_codes"],
        "connect_s": round(d["sockets"]["connect_s"], 2),
        "workers": len(workers),
        "workers_alive_at_end": sum(1 for w in workers if w.get("alive_at_end")),
        "rss_kb_end": [w.get("rss_kb_end") for w in workers],
    }
    if d["config"]["idle"]:
        s["rss_per_socket_bytes"] = round(d["idle"]["rss_per_socket_bytes"])
        s["rss_delta_kb"] = d["idle"]["rss_delta_kb"]
        s["lost"] = 0
        return s
    cpu_s = [w["cpu_s"] for w in workers if "cpu_s" in w]
    window_frames = d["delivered"].get("window_frames", 0)
    s.update({
        "offered_rate": d["config"]["rate"],
        "produced_per_s": round(d["produced"]["events_per_s"]),
        "produce_failed": d["produced"]["failed"],
        "frames_per_s": round(d["delivered"]["frames_per_s"]),
        "expected": d["delivered"]["expected"],
        "lost": d["delivered"]["lost"],
        "duplicates": d["delivered"]["duplicates"],
        "gaps": d["delivered"].get("gaps", 0),
        "frames": d["delivered"].get("frames", 0),
        "p50_ms": round(d["latency_ms"]["p50"], 2),
        "p99_ms": round(d["latency_ms"]["p99"], 2),
        "p999_ms": round(d["latency_ms"]["p999"], 2),
        "max_ms": round(d["latency_ms"]["max"], 2),
        "worker_cpu_pct": [round(w.get("cpu_pct", 0)) for w in workers],
        "worker_cpu_pct_total": round(sum(w.get("cpu_pct", 0) for w in workers)),
        # Bridge CPU (user + system, all workers) over the window ÷ frames received in it.
        "cpu_us_per_frame": (round(1e6 * sum(cpu_s) / window_frames, 2) if cpu_s and window_frames else None),
        "rss_mb_end": (round(sum(w.get("rss_kb_end") or 0 for w in workers) / 1024, 1) if workers else None),
        "loadgen_cpu_pct": {k: round(v) for k, v in d["loadgen_cpu_pct"].items()},
    })
    return s


def read_loadavg(json_path):
    """The load averages noted before and after a run (raw/NAME.loadavg), or None."""
    path = json_path[:-5] + ".loadavg" if json_path.endswith(".json") else json_path + ".loadavg"
    try:
        with open(path) as f:
            rows = [[float(x) for x in line.split()[:3]] for line in f if line.strip()]
    except (OSError, ValueError):
        return None
    return {"start": rows[0] if rows else None, "end": rows[1] if len(rows) > 1 else None}


def io_thread_sockets(path):
    """bridge_io_thread_sockets by thread from a /metrics snapshot taken while the sockets were
    open, or None."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    found = {int(t): int(float(v)) for t, v in
             re.findall(r'^bridge_io_thread_sockets\{thread="(\d+)"\} (\S+)$', text, re.M)}
    return [found[t] for t in sorted(found)] if found else None


def fmt_load(la):
    if not la or not la.get("start"):
        return "n/a"
    start = "/".join(f"{x:.2f}" for x in la["start"])
    return start + (" → " + "/".join(f"{x:.2f}" for x in la["end"]) if la.get("end") else "")


def one_line(name, s):
    if "rss_per_socket_bytes" in s:
        return (f"{name}: {s['sockets_opened']}/{s['sockets_requested']} sockets, "
                f"{s['rss_per_socket_bytes']} B RSS per socket, workers alive {s['workers_alive_at_end']}/{s['workers']}")
    line = (f"{name}: {s['frames_per_s']} frames/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, "
            f"p99.9 {s['p999_ms']} ms, lost {s['lost']}, sockets {s['sockets_opened']}/{s['sockets_requested']}, "
            f"worker CPU {s['worker_cpu_pct']}%")
    if s.get("cpu_us_per_frame") is not None:
        line += f" ({s['cpu_us_per_frame']} us per frame)"
    if s.get("io_thread_sockets"):
        line += f", sockets per io thread {s['io_thread_sockets']}"
    if s.get("load_average"):
        line += f", load average {fmt_load(s['load_average'])}"
    return line


# ---------------------------------------------------------------- collection

def load_runs(outdir):
    runs = {}
    for path in sorted(glob.glob(os.path.join(outdir, "raw", "*--*.json"))):
        name = os.path.basename(path)[:-5]
        scenario, bridge = name.rsplit("--", 1)
        with open(path) as f:
            raw = json.load(f)
        s = summarize(raw)
        s["load_average"] = read_loadavg(path)
        per_thread = io_thread_sockets(path[:-5] + ".open.metrics")
        if per_thread is not None:
            s["io_thread_sockets"] = per_thread
        runs.setdefault(scenario, {})[bridge] = {"summary": s, "raw": raw}
    return runs


def ratio(a, b):
    if not a or not b:
        return None
    return round(a / b, 2)


def short_function(name):
    """A callgrind function name without its file, object, template arguments or parameters."""
    name = re.sub(r" \[[^\]]*\]$", "", name.strip())
    m = re.match(r"^(\?\?\?|[^\s:]*/[^\s:]*|[^\s:]+\.[a-zA-Z]+):(.*)$", name)
    if m:
        name = m.group(2)
    out, depth = [], 0
    for ch in name:  # drop template arguments
        if ch == "<":
            if depth == 0:
                out.append("<>")
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    name = "".join(out)
    if name.startswith("operator"):
        return name
    paren = name.find("(")
    return name[:paren] if paren > 0 else name


def read_profile(path, top=20, prefix="", merge=True):
    """The top functions from callgrind_annotate's output: self cost with inlined pieces summed
    (merge), or inclusive cost (no merge: the largest entry per function), optionally only
    functions whose name starts with prefix."""
    if not os.path.exists(path):
        return None
    totals, grand, seen_header = {}, 0, False
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*?)\s*$", line)
            if m and "PROGRAM TOTALS" in line:
                grand = int(m.group(1).replace(",", ""))
            elif "file:function" in line:
                seen_header = True
            elif seen_header and not line.strip() and totals:
                break  # the function list ends; annotated source may follow
            elif seen_header and m:
                fn = short_function(m.group(3))
                if not fn.startswith(prefix):
                    continue
                ir = int(m.group(1).replace(",", ""))
                totals[fn] = totals.get(fn, 0) + ir if merge else max(totals.get(fn, 0), ir)
    if not grand:
        return None
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"function": fn, "ir": ir, "pct": round(100.0 * ir / grand, 2)} for fn, ir in rows]


def inconsistent(s):
    """Why a run's counts cannot be right, or None: a frame received twice, a sequence gap, or
    more frames than the broker acknowledged (e.g. another run's broker answered on the port)."""
    if "frames" not in s:
        return None
    why = []
    if s.get("duplicates"):
        why.append(f"{s['duplicates']} duplicates")
    if s.get("gaps"):
        why.append(f"{s['gaps']} sequence gaps")
    if s["frames"] > s["expected"]:
        why.append(f"{s['frames']} frames for {s['expected']} expected")
    return ", ".join(why) or None


def fanout_rate_verdicts(load, s):
    """{target: met?} for one fixed-rate fan-out run, for the targets its load has."""
    out = {}
    which = FANOUT_RATE_TARGETS.get(load, ())
    if "p99" in which and s.get("p99_minus_floor_ms") is not None:
        out["p99_within_10ms_of_floor"] = s["p99_minus_floor_ms"] <= TARGETS["fanout_rate_p99_over_floor_ms"]
    if "cpu" in which and s.get("cpu_us_per_frame") is not None:
        out["cpu_at_most_5us_per_frame"] = s["cpu_us_per_frame"] <= TARGETS["fanout_rate_cpu_us_per_frame"]
    if which:
        out["none_lost"] = s["lost"] == 0
    return out


def build_results(outdir):
    runs = load_runs(outdir)
    def get(scn, bridge):
        return runs.get(scn, {}).get(bridge, {}).get("summary")
    scenarios = {}
    if "throughput" in runs:
        o, n = get("throughput", "ours"), get("throughput", "node")
        scenarios["throughput"] = {"ours": o, "node": n,
                                   "ratio_frames_per_s": ratio(o and o["frames_per_s"], n and n["frames_per_s"])}
    sweep = sorted((int(k.split("-")[1]), k) for k in runs if re.fullmatch(r"latency-\d+", k))
    if sweep:
        points = []
        for rate, key in sweep:
            o, n = get(key, "ours"), get(key, "node")
            points.append({"rate": rate, "ours": o, "node": n, "floor": get(key, "floor"),
                           "ratio_p99": ratio(n and n["p99_ms"], o and o["p99_ms"])})
        scenarios["latency"] = {"points": points}
    if "idle" in runs:
        o, n = get("idle", "ours"), get("idle", "node")
        scenarios["idle"] = {"ours": o, "node": n,
                             "ratio_rss_per_socket": ratio(n and n.get("rss_per_socket_bytes"),
                                                           o and o.get("rss_per_socket_bytes"))}
    if "fanout-1w" in runs or "fanout-3w" in runs:
        f = {}
        for key in ("fanout-1w", "fanout-3w"):
            o, n = get(key, "ours"), get(key, "node")
            f[key] = {"ours": o, "node": n, "ratio_frames_per_s": ratio(o and o["frames_per_s"], n and n["frames_per_s"])}
        scenarios["fanout"] = f
    fixed = sorted((tuple(int(x) for x in m.groups()), k) for k in runs
                   for m in [re.fullmatch(r"rate-(\d+)x(\d+)-(\d+)", k)] if m)
    if fixed:
        points = []
        for (users, per, rate), key in fixed:
            floor = get(key, "floor")
            if floor and inconsistent(floor):
                floor = dict(floor, invalid=inconsistent(floor))
            point = {"users": users, "sockets_per_user": per, "sockets": users * per, "rate": rate,
                     "floor": floor, "runs": {}}
            for bridge in ("ours-io1", "ours-io2", "node"):
                s = get(key, bridge)
                if s is None:
                    continue
                s = dict(s)
                usable = floor and not floor.get("invalid")
                s["p99_minus_floor_ms"] = round(s["p99_ms"] - floor["p99_ms"], 2) if usable else None
                s["p50_minus_floor_ms"] = round(s["p50_ms"] - floor["p50_ms"], 2) if usable else None
                s["targets"] = fanout_rate_verdicts((users, per, rate), s)
                point["runs"][bridge] = s
            points.append(point)
        scenarios["fanout_rate"] = {"points": points}
    with open(os.path.join(outdir, "raw", "machine.json")) as fm:
        mach = json.load(fm)
    run_info = {}
    run_path = os.path.join(outdir, "raw", "run.json")
    if os.path.exists(run_path):
        with open(run_path) as fr:
            run_info = json.load(fr)
    profile = read_profile(os.path.join(outdir, "profile-self.txt"))
    if profile:
        scenarios["profile"] = {"top_self": profile, "run": get("profile", "ours"),
                                "bridge_inclusive": read_profile(os.path.join(outdir, "profile-inclusive.txt"),
                                                                 top=12, prefix="bridge::", merge=False)}
    return {"machine": mach, "run": run_info, "targets": TARGETS, "scenarios": scenarios,
            "raw": {f"{s}--{b}": r["raw"] for s, by in runs.items() for b, r in by.items()}}


# ---------------------------------------------------------------- markdown

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        v = f"{v:,.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "not met")


def markdown(res):
    m, sc = res["machine"], res["scenarios"]
    at_end = res["run"].get("load_average_at_end")
    other_bin = res["run"].get("bridge_bin")  # BENCH_BRIDGE_BIN, when set
    lines = [f"# Benchmark results ({res['run'].get('scenario', '?')})", "",
             f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
             f"load average (1/5/15 min) at start {m['load_average_at_start']}"
             + (f", at end {at_end}" if at_end else "") + f", {m['fd_hard_limit']} descriptors per process; "
             f"broker, bridge and load generator on this one machine. {m['date_utc']}, "
             + (f"bridge built from {m.get('bridge_source', '?')}; " if not other_bin else
                f"our bridge's executable {other_bin} (BENCH_BRIDGE_BIN; the checkout was at {m.get('bridge_source', '?')}); ")
             + f"wall time {res['run'].get('wall_s', '?')} s ("
             + ", ".join(f"{k} {v} s" for k, v in res["run"].get("scenario_wall_s", {}).items())
             + f"), {res['run'].get('duration_s', '?')} s per measured run."]
    header_at = len(lines)

    def row(scn, measure, o, n, r, target="", ok=None):
        lines.append(f"| {scn} | {measure} | {o} | {n} | {fmt(r, '×') if r is not None else 'n/a'} | {target} | {verdict(ok)} |")

    def val(s, k):
        return None if s is None else s.get(k)

    t = sc.get("throughput")
    if t:
        o, n = t["ours"], t["node"]
        row("throughput (1k sockets, 100 users)", "delivered frames/s", fmt(val(o, "frames_per_s")),
            fmt(val(n, "frames_per_s")), t["ratio_frames_per_s"], "≥ 100,000",
            None if o is None else o["frames_per_s"] >= TARGETS["throughput_frames_per_s"])
        row("", "vs baseline", "", "", t["ratio_frames_per_s"], "≥ 5×",
            None if t["ratio_frames_per_s"] is None else t["ratio_frames_per_s"] >= 5)
        row("", "bridge CPU (% of a core)", fmt(val(o, "worker_cpu_pct_total")), fmt(val(n, "worker_cpu_pct_total")), None)
        row("", "p99 latency ms", fmt(val(o, "p99_ms")), fmt(val(n, "p99_ms")), None)
        row("", "events lost", fmt(val(o, "lost")), fmt(val(n, "lost")), None, "0", None if o is None else o["lost"] == 0)
    lat = sc.get("latency")
    if lat:
        p20 = next((p for p in lat["points"] if p["rate"] == 20000), None) or lat["points"][-1]
        o, n = p20["ours"], p20["node"]
        label = f"latency ({fmt(p20['rate'])} events/s, {fmt(val(o, 'sockets_requested'))} sockets)"
        row(label, "p50 ms", fmt(val(o, "p50_ms")), fmt(val(n, "p50_ms")), ratio(val(n, "p50_ms"), val(o, "p50_ms")))
        row("", "p99 ms", fmt(val(o, "p99_ms")), fmt(val(n, "p99_ms")), ratio(val(n, "p99_ms"), val(o, "p99_ms")),
            "< 10 ms", None if o is None or p20["rate"] != 20000 else o["p99_ms"] < 10)
        row("", "p99.9 ms", fmt(val(o, "p999_ms")), fmt(val(n, "p999_ms")), ratio(val(n, "p999_ms"), val(o, "p999_ms")))
        row("", "delivered frames/s", fmt(val(o, "frames_per_s")), fmt(val(n, "frames_per_s")),
            ratio(val(o, "frames_per_s"), val(n, "frames_per_s")))
        row("", "bridge CPU (% of a core)", fmt(val(o, "worker_cpu_pct_total")), fmt(val(n, "worker_cpu_pct_total")), None)
        row("", "events lost", fmt(val(o, "lost")), fmt(val(n, "lost")), None, "0", None if o is None else o["lost"] == 0)
    idle = sc.get("idle")
    if idle:
        o, n = idle["ours"], idle["node"]
        row(f"idle ({fmt(val(o, 'sockets_requested'))} sockets on {fmt(val(o, 'workers'))} worker(s))",
            "RSS per socket (bytes)", fmt(val(o, "rss_per_socket_bytes")), fmt(val(n, "rss_per_socket_bytes")),
            idle["ratio_rss_per_socket"], "≤ 12,288",
            None if o is None else o["rss_per_socket_bytes"] <= TARGETS["idle_rss_per_socket_bytes"])
        row("", "sockets open", fmt(val(o, "sockets_opened")), fmt(val(n, "sockets_opened")), None)
        row("", "connect time s", fmt(val(o, "connect_s")), fmt(val(n, "connect_s")), None)
    fan = sc.get("fanout")
    if fan:
        for key, label in (("fanout-1w", "fan-out, 1 worker"), ("fanout-3w", "fan-out, 3 workers")):
            f = fan.get(key)
            if not f:
                continue
            o, n = f["ours"], f["node"]
            row(label, "delivered frames/s", fmt(val(o, "frames_per_s")), fmt(val(n, "frames_per_s")), f["ratio_frames_per_s"])
            row("", "CPU per worker (%)", fmt(val(o, "worker_cpu_pct")), fmt(val(n, "worker_cpu_pct")), None)
            row("", "p99 ms / lost", f"{fmt(val(o, 'p99_ms'))} / {fmt(val(o, 'lost'))}",
                f"{fmt(val(n, 'p99_ms'))} / {fmt(val(n, 'lost'))}", None)
    main_table = len(lines) > header_at
    if main_table:
        lines[header_at:header_at] = ["",
            "| scenario | measure | ours (C++) | Node.js baseline | ours ÷ baseline | target | ours vs target |",
            "|---|---|---|---|---|---|---|"]
    fr = sc.get("fanout_rate")
    if fr:
        lines += fanout_rate_markdown(fr)
    if lat:
        lines += ["", "Latency sweep: end to end, producer send to client receive, one socket per user. "
                  "\"Kafka alone\" is the same production read back by a plain librdkafka consumer "
                  "(no bridge, no WebSocket): the floor this machine's producer and broker set.", "",
                  "| offered events/s | bridge | delivered frames/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | bridge CPU % |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in lat["points"]:
            for key, label in (("ours", "ours"), ("node", "Node.js baseline"), ("floor", "Kafka alone")):
                x = p.get(key)
                if not x:
                    continue
                lines.append(f"| {fmt(p['rate'])} | {label} | {fmt(x['frames_per_s'])} | {fmt(x['p50_ms'])} | "
                             f"{fmt(x['p99_ms'])} | {fmt(x['p999_ms'])} | {fmt(x['max_ms'])} | {fmt(x['lost'])} | "
                             f"{fmt(x['worker_cpu_pct_total']) if key != 'floor' else ''} |")
    prof = sc.get("profile")
    if prof:
        lines += ["", "Profile: our bridge under callgrind during the throughput load (instructions, self cost):", "",
                  "| share | instructions | function |", "|---|---|---|"]
        for r in prof["top_self"]:
            fn = r["function"].replace("|", "\\|")
            lines.append(f"| {r['pct']:.2f}% | {r['ir']:,} | `{fn}` |")
        if prof.get("bridge_inclusive"):
            lines += ["", "The bridge's own functions, inclusive cost (callees counted in):", "",
                      "| share | instructions | function |", "|---|---|---|"]
            for r in prof["bridge_inclusive"]:
                lines.append(f"| {r['pct']:.2f}% | {r['ir']:,} | `{r['function']}` |")
    lines.append("")
    if main_table:
        lines.append("Ratios: throughput is ours ÷ baseline; latency and memory are baseline ÷ ours (above 1: ours is better).")
    lines += ["Raw load generator outputs, bridge logs and /metrics snapshots are in raw/"
              + ("; the plot is latency.svg." if lat else "."), ""]
    return "\n".join(lines)


def fanout_rate_markdown(fr):
    """The fixed-rate fan-out table: each load against our bridge with 1 and 2 io threads (and
    the baseline if run), with Kafka alone's latency beside it and the targets that apply."""
    names = {"ours-io1": "ours, 1 io thread", "ours-io2": "ours, 2 io threads", "node": "Node.js baseline"}
    lines = ["", "Fixed-rate fan-out: U users × S sockets each, a fixed rate of events spread evenly over the users, "
             "one bridge worker. \"Kafka alone\" is the same production read back by a plain librdkafka consumer "
             "(the floor); \"p99 − floor\" is the bridge's p99 minus Kafka alone's p99 in the same run. "
             "CPU µs per frame = the bridge's CPU seconds (user + system) over the window ÷ frames delivered in it. "
             "Load average (1/5/15 min) before → after each run. In Kafka alone's rows the load generator's first CPU "
             "figure includes the plain consumer reading the events back.", "",
             "| load | events/s | bridge | delivered frames/s | p50 ms | p99 ms | p99.9 ms | p99 − floor ms | lost | "
             "bridge CPU % | CPU µs per frame | RSS MB | load generator CPU % (producer/sockets) | load average | targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in fr["points"]:
        load = f"{fmt(p['users'])} × {p['sockets_per_user']}"
        for key, x in list(p["runs"].items()) + [("floor", p.get("floor"))]:
            if not x:
                continue
            lg = x.get("loadgen_cpu_pct", {})
            tg = ", ".join(f"{k.replace('_', ' ')}: {verdict(v)}" for k, v in x.get("targets", {}).items())
            if key == "floor":
                bad = f"invalid: {x['invalid']}" if x.get("invalid") else ""
                lines.append(f"| {load} | {fmt(p['rate'])} | Kafka alone | {fmt(x['frames_per_s'])} | {fmt(x['p50_ms'])} | "
                             f"{fmt(x['p99_ms'])} | {fmt(x['p999_ms'])} | | {fmt(x['lost'])} | | | | "
                             f"{fmt(lg.get('producer'))}/{fmt(lg.get('sockets'))} | {fmt_load(x.get('load_average'))} | {bad} |")
            else:
                label = names.get(key, key)
                if x.get("io_thread_sockets"):
                    label += " (sockets per thread " + "/".join(fmt(n) for n in x["io_thread_sockets"]) + ")"
                lines.append(f"| {load} | {fmt(p['rate'])} | {label} | {fmt(x['frames_per_s'])} | "
                             f"{fmt(x['p50_ms'])} | {fmt(x['p99_ms'])} | {fmt(x['p999_ms'])} | "
                             f"{fmt(x.get('p99_minus_floor_ms'))} | {fmt(x['lost'])} | {fmt(x['worker_cpu_pct_total'])} | "
                             f"{fmt(x.get('cpu_us_per_frame'))} | {fmt(x.get('rss_mb_end'))} | "
                             f"{fmt(lg.get('producer'))}/{fmt(lg.get('sockets'))} | {fmt_load(x.get('load_average'))} | {tg} |")
    lines += ["", f"Targets (issue 10): p99 within {TARGETS['fanout_rate_p99_over_floor_ms']:g} ms of Kafka alone at "
              f"1,000 × 10 and 5,000 events/s and at 10,000 × 1 and 20,000 events/s; at most "
              f"{TARGETS['fanout_rate_cpu_us_per_frame']:g} µs of bridge CPU per frame at 1,000 × 10 and 5,000 events/s; "
              "0 lost everywhere."]
    return lines


# ---------------------------------------------------------------- plot

def svg_plot(res):
    lat = res["scenarios"].get("latency")
    if not lat:
        return None
    W, H, L, R, T, B = 720, 440, 70, 170, 40, 60
    series = [("ours", "p50_ms", "#1f5fbf", "", "ours p50"), ("ours", "p99_ms", "#1f5fbf", "6,4", "ours p99"),
              ("node", "p50_ms", "#d9751e", "", "Node.js p50"), ("node", "p99_ms", "#d9751e", "6,4", "Node.js p99"),
              ("floor", "p50_ms", "#888888", "", "Kafka alone p50"), ("floor", "p99_ms", "#888888", "6,4", "Kafka alone p99")]
    rates = [p["rate"] for p in lat["points"]]
    vals = [p[b][k] for p in lat["points"] for b, k, *_ in series if p.get(b) and p[b].get(k)]
    if not vals:
        return None
    ymin = 10 ** math.floor(math.log10(max(min(vals), 0.01)))
    ymax = 10 ** math.ceil(math.log10(max(vals)))
    if ymax <= ymin:
        ymax = ymin * 10
    xmin, xmax = min(rates), max(rates)
    if xmax == xmin:
        xmin, xmax = xmin / 2, xmax * 2
    lx = lambda r: L + (math.log10(r) - math.log10(xmin)) / (math.log10(xmax) - math.log10(xmin)) * (W - L - R)
    ly = lambda v: H - B - (math.log10(max(v, ymin)) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - 60}" y="22" text-anchor="middle" font-size="15">End-to-end latency against offered rate '
           f'({fmt(lat["points"][0]["ours"]["sockets_requested"] if lat["points"][0].get("ours") else 0)} sockets)</text>']
    decade = ymin
    while decade <= ymax * 1.001:
        y = ly(decade)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>')
        decade *= 10
    for r in rates:
        x = lx(r)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{r:,}</text>')
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">offered rate (events/s, log scale)</text>')
    out.append(f'<text transform="translate(18,{(T + H - B) / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>')
    target_y = ly(TARGETS["latency_p99_ms_at_20k"])
    out.append(f'<line x1="{L}" y1="{target_y:.1f}" x2="{W - R}" y2="{target_y:.1f}" stroke="#2a2" stroke-dasharray="2,3"/>')
    out.append(f'<text x="{W - R - 4}" y="{target_y - 4:.1f}" text-anchor="end" fill="#2a2">p99 target 10 ms</text>')
    for i, (bridge, key, color, dash, label) in enumerate(series):
        pts = [(lx(p["rate"]), ly(p[bridge][key]), p[bridge].get("lost", 0))
               for p in lat["points"] if p.get(bridge) and p[bridge].get(key) is not None]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            for x, y, lost in pts:
                if lost:  # a run that lost events: hollow red marker
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="none" stroke="red" stroke-width="2"/>')
                else:
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly0 = T + 10 + i * 20
        out.append(f'<line x1="{W - R + 15}" y1="{ly0}" x2="{W - R + 45}" y2="{ly0}" stroke="{color}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out.append(f'<text x="{W - R + 52}" y="{ly0 + 4}">{label}</text>')
    out.append(f'<circle cx="{W - R + 30}" cy="{T + 10 + len(series) * 20}" r="5" fill="none" stroke="red" stroke-width="2"/>')
    out.append(f'<text x="{W - R + 52}" y="{T + 14 + len(series) * 20}">events lost</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- commands

def failures(res):
    """What fails the smoke: our bridge losing events or sockets. The baseline's own losses
    are a finding about the baseline, reported but not failing."""
    bad, notes = [], []
    for name, raw in res["raw"].items():
        s = summarize(raw)
        out = notes if "node" in name else bad
        if s["lost"]:
            out.append(f"{name}: {s['lost']} events lost")
        if inconsistent(s):
            out.append(f"{name}: {inconsistent(s)}")
        if s["sockets_failed"] or s["sockets_opened"] < s["sockets_requested"]:
            out.append(f"{name}: {s['sockets_opened']} of {s['sockets_requested']} sockets opened")
    return bad, notes


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "machine":
        print(json.dumps(machine(), indent=2))
    elif cmd == "summary":
        with open(argv[2]) as f:
            d = json.load(f)
        s = summarize(d)
        s["load_average"] = read_loadavg(argv[2])
        per_thread = io_thread_sockets(argv[2][:-5] + ".open.metrics")
        if per_thread is not None:
            s["io_thread_sockets"] = per_thread
        print(one_line(d.get("label") or os.path.basename(argv[2]), s))
    elif cmd == "report":
        outdir = argv[2]
        res = build_results(outdir)
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump(res, f, indent=2)
        md = markdown(res)
        with open(os.path.join(outdir, "results.md"), "w") as f:
            f.write(md)
        svg = svg_plot(res)
        if svg:
            with open(os.path.join(outdir, "latency.svg"), "w") as f:
                f.write(svg)
        print(md)
    elif cmd == "check":
        bad, notes = failures(build_results(argv[2]))
        for n in notes:
            print("baseline (not failing): " + n, file=sys.stderr)
        for b in bad:
            print("FAIL " + b, file=sys.stderr)
        if not bad:
            print("smoke: no event lost, every socket opened", file=sys.stderr)
        return 1 if bad else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
