#!/usr/bin/env python3
"""Summarise hyperfine JSON exports from several alternating rounds into a Markdown section
of bench/RESULTS.md: median per command over every run of every round, and the ratio of
each command to the reference named first in each pair.

usage: summarize.py RESULTS.md SECTION-TITLE PAIRS JSON... [--note TEXT]...
PAIRS: "ours=reference,ours2=reference2" using hyperfine command names (--command-name).
"""
import datetime, json, os, platform, statistics, subprocess, sys


def machine():
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = subprocess.run(["df", "-T", "."], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    return f"{os.cpu_count()} cores, {cpu}, kernel {platform.release()}, filesystem {fs}"


def main():
    args = sys.argv[1:]
    notes = []
    while "--note" in args:
        i = args.index("--note")
        notes.append(args[i + 1])
        del args[i:i + 2]
    results_md, title, pairs, files = args[0], args[1], args[2], args[3:]
    times, commands = {}, {}
    for f in files:
        for r in json.load(open(f))["results"]:
            name = r.get("command_name") or r["command"]
            times.setdefault(name, []).extend(r["times"])
            commands[name] = r["command"]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    lines = [f"## {title} ({stamp})", "", f"Machine: {machine()}. hyperfine invocations: {len(files)} (the pairs alternate which goes first from round to round).", ""]
    lines += ["| command | runs | median | min | max |", "| --- | --- | --- | --- | --- |"]
    med = {}
    for name, ts in times.items():
        med[name] = statistics.median(ts)
        lines.append(f"| `{name}` | {len(ts)} | {med[name]*1000:.1f} ms | {min(ts)*1000:.1f} ms | {max(ts)*1000:.1f} ms |")
    lines += ["", "| ratio | median ratio |", "| --- | --- |"]
    for pair in pairs.split(","):
        if not pair:
            continue
        ours, ref = pair.split("=")
        if ours in med and ref in med:
            lines.append(f"| `{ours}` / `{ref}` | {med[ours]/med[ref]:.2f}x |")
    lines += [""]
    for n in notes:
        lines += [n, ""]
    section = "\n".join(lines)
    # Always appended, with its date: earlier runs stay on record (runs drift; only ratios
    # from one run count, and the history shows the drift).
    text = open(results_md).read() if os.path.exists(results_md) else "# Benchmark results\n\n"
    text = text.rstrip("\n") + "\n\n" + section
    open(results_md, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
