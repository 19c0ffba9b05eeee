#!/usr/bin/env python3
"""postern bench - turn raw benchmark data into markdown tables.

    report.py accept FILE.tsv     accept throughput table (bench/accept.sh)
    report.py idle FILE.json      idle-connection table (bench/idle.sh)
    report.py relay FILE.tsv      relay end-to-end table (bench/relay.sh)
"""
import json
import statistics
import sys
import time

SERVERS = (("postfix", "Postfix 3.7"), ("posternd", "posternd"))


def accept(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    concs = []
    for r in rows:
        if int(r["conc"]) not in concs:
            concs.append(int(r["conc"]))
    nruns = max((int(r["run"]) for r in rows), default=0)
    out = []
    out.append("## Accept throughput (smtp-source, 10 KiB messages, one message per connection)\n")
    out.append("Generated %s from `%s`. msgs/s = N / wall time of smtp-source; "
               "median of %d runs; a run counts only if smtp-source reported no error "
               "and the server queued exactly N messages.\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), path, nruns))
    out.append("Postfix is stock apart from the private-instance settings (bench/postfix.sh): at most "
               "default_process_limit = 100 smtpd processes, listen backlog 100, so beyond ~100 parallel "
               "clients the rest queue in the kernel and overflowing SYNs are retried by the client. "
               "posternd: schema defaults (4 worker threads, 4 database connections), max_connections_per_ip 5000.\n")
    out.append("| concurrency | N msgs/run | %s msgs/s | %s msgs/s | posternd / Postfix |" % tuple(n for _, n in SERVERS))
    out.append("|---:|---:|---:|---:|---:|")
    notes = []
    for c in concs:
        med = {}
        cells = []
        n = ""
        for key, name in SERVERS:
            runs = [r for r in rows if r["server"] == key and int(r["conc"]) == c]
            if not runs:
                cells.append("-")
                continue
            n = runs[0]["n"]
            bad = [r for r in runs if r["status"] != "ok"]
            if bad:
                cells.append("**ERROR** (%d of %d runs invalid)" % (len(bad), len(runs)))
                for r in bad:
                    notes.append("- %s c=%d run %s: %s (%.1f msgs/s measured)" % (
                        name, c, r["run"], r["status"], float(r["msgs_per_s"])))
            else:
                med[key] = statistics.median(float(r["msgs_per_s"]) for r in runs)
                cells.append("%.0f" % med[key])
        ratio = "%.2fx" % (med["posternd"] / med["postfix"]) if len(med) == 2 else "-"
        out.append("| %d | %s | %s | %s | %s |" % (c, n, cells[0], cells[1], ratio))
    if notes:
        out.append("\nInvalid runs (not in any median):")
        out.extend(notes)
    out.append("\nEvery run: msgs/s (wall time, 1-min load average when the run started, "
               "listen-queue overflows (dropped SYNs, retried by the client after 1 s, 3 s...) during the run; "
               "the machine has %d CPUs):\n" % (__import__("os").cpu_count() or 0))
    out.append("| server | concurrency | " + " | ".join("run %d" % i for i in range(1, nruns + 1)) + " |")
    out.append("|---|---:|" + "---:|" * nruns)
    for key, name in SERVERS:
        for c in concs:
            runs = sorted((r for r in rows if r["server"] == key and int(r["conc"]) == c),
                          key=lambda r: int(r["run"]))
            if runs:
                vals = ["%.0f (%ss, load %s, ovf %s)%s" % (float(r["msgs_per_s"]), r["seconds"], r.get("load1", "?"), r.get("listen_overflows", "?"),
                                          "" if r["status"] == "ok" else " ERROR") for r in runs]
                out.append("| %s | %d | %s |" % (name, c, " | ".join(vals)))
    print("\n".join(out))


def relay(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    concs = []
    for r in rows:
        if int(r["conc"]) not in concs:
            concs.append(int(r["conc"]))
    nruns = max((int(r["run"]) for r in rows), default=0)
    out = []
    out.append("## Relay throughput end to end (smtp-source -> server -> smtp-sink, 10 KiB messages)\n")
    out.append("Generated %s from `%s`. End to end = from the start of smtp-source until smtp-sink "
               "has received all N messages; msgs/s = N / that time; median of %d runs. A run counts only "
               "if smtp-source reported no error, the sink received exactly N messages and the server had "
               "nothing left afterwards (posternd: every recipient delivered; Postfix: empty queue).\n"
               % (time.strftime("%Y-%m-%d %H:%M:%S"), path, nruns))
    out.append("Postfix relays with relayhost = [127.0.0.1]:sink (bench/postfix.sh relay mode: no hold "
               "queue, stock smtp client, process and destination concurrency limits, connection cache). "
               "posternd relays by a rule (relay host 127.0.0.1:sink, relay_tls none) with the schema's "
               "delivery defaults: 4 delivery threads, batches of 50, SMTP sessions reused for the next message to the same route, "
               "every outcome committed to PostgreSQL. Plain SMTP on both legs for both.\n")
    names = [n for _, n in SERVERS]
    out.append("| concurrency | N msgs/run | %s end to end | %s msgs/s | %s end to end | %s msgs/s "
               "| posternd / Postfix |" % (names[0], names[0], names[1], names[1]))
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for c in concs:
        med = {}
        cells = []
        n = ""
        for key, name in SERVERS:
            runs = [r for r in rows if r["server"] == key and int(r["conc"]) == c]
            if not runs:
                cells += ["-", "-"]
                continue
            n = runs[0]["n"]
            bad = [r for r in runs if r["status"] != "ok"]
            if bad:
                cells += ["**ERROR** (%d of %d runs invalid)" % (len(bad), len(runs)), "-"]
                for r in bad:
                    notes.append("- %s c=%d run %s: %s (%ss measured)" % (name, c, r["run"], r["status"],
                                                                          r["seconds"]))
            else:
                secs = statistics.median(float(r["seconds"]) for r in runs)
                med[key] = statistics.median(float(r["msgs_per_s"]) for r in runs)
                cells += ["%.2f s" % secs, "%.0f" % med[key]]
        ratio = "%.2fx" % (med["posternd"] / med["postfix"]) if len(med) == 2 else "-"
        out.append("| %d | %s | %s | %s |" % (c, n, " | ".join(cells), ratio))
    if notes:
        out.append("\nInvalid runs (not in any median):")
        out.extend(notes)
    out.append("\nEvery run: msgs/s end to end (end-to-end seconds; seconds until smtp-source had "
               "handed over all N, i.e. acceptance; 1-min load average when the run started; the "
               "machine has %d CPUs):\n" % (__import__("os").cpu_count() or 0))
    out.append("| server | concurrency | " + " | ".join("run %d" % i for i in range(1, nruns + 1)) + " |")
    out.append("|---|---:|" + "---:|" * nruns)
    for key, name in SERVERS:
        for c in concs:
            runs = sorted((r for r in rows if r["server"] == key and int(r["conc"]) == c),
                          key=lambda r: int(r["run"]))
            if runs:
                vals = ["%.0f (%ss; accepted %ss; load %s)%s" % (
                    float(r["msgs_per_s"]), r["seconds"], r["accept_seconds"], r["load1"],
                    "" if r["status"] == "ok" else " ERROR") for r in runs]
                out.append("| %s | %d | %s |" % (name, c, " | ".join(vals)))
    print("\n".join(out))


def idle(path):
    with open(path) as f:
        d = json.load(f)
    out = []
    out.append("## Idle connections (posternd pid %s)\n" % d.get("pid"))
    out.append("Generated %s. %d connections opened, each read the 220 greeting and then sat idle "
               "for %.0f s; memory from /proc/PID/status.\n"
               % (time.strftime("%Y-%m-%d %H:%M:%S"), d["target"], d["hold_seconds"]))
    out.append("| measurement | value |")
    out.append("|---|---:|")

    def kb(v):
        return "-" if v is None else "%d kB (%.1f MiB)" % (v, v / 1024.0)

    for label, key in (("before", "before"), ("with connections open", "open"), ("after closing them", "after")):
        s = d["status"].get(key) or {}
        out.append("| VmRSS %s | %s |" % (label, kb(s.get("VmRSS"))))
        out.append("| VmHWM %s | %s |" % (label, kb(s.get("VmHWM"))))
        out.append("| threads %s | %s |" % (label, s.get("Threads", "-")))
    b = (d["status"].get("before") or {}).get("VmRSS")
    o = (d["status"].get("open") or {}).get("VmRSS")
    ok = d["greeted"]
    if b is not None and o is not None and ok:
        out.append("| RSS growth per idle connection | %.1f kB |" % ((o - b) / ok))
    out.append("| connections that got the 220 greeting | %d of %d |" % (ok, d["target"]))
    out.append("| connect/greeting failures | %d |" % d["failed"])
    out.append("| time to open and greet all | %.2f s |" % d["open_seconds"])
    probe = d["probe"]
    out.append("| new client served while they were open | %s |" % (
        "yes: %s in %.3f s" % (probe["reply"], probe["seconds"]) if probe["ok"] else "**NO**: %s" % probe["reply"]))
    if d.get("stored_delta") is not None:
        out.append("| probe message stored (postern.messages delta) | %s |" % d["stored_delta"])
    still = d.get("idle_alive")
    if still is not None:
        out.append("| idle connections still open at the end | %d of %d |" % (still, ok))
    if d["failed"]:
        out.append("\nFirst failures: " + "; ".join(d["errors"][:5]))
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("accept", "idle", "relay"):
        sys.exit(__doc__)
    {"accept": accept, "idle": idle, "relay": relay}[sys.argv[1]](sys.argv[2])
