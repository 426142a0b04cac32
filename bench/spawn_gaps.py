#!/usr/bin/env python3
"""How long a job slot stays empty: from each action's process ending to the next spawn.

Reads a `perf sched record` of one run (root or perf_event_paranoid <= 0) and prints, for the
process that spawns the actions, the time from the end of each action process to the next
process it spawns (median, mean, 90th percentile), the CPUs' idle time, and the scheduling
delay of the spawning thread (how long it waited for a CPU after being woken). See
docs/performance.md ("Where the time goes, per end").

    perf sched record -o pipec.data pipec run wide.pipe --state-dir st --jobs 2
    python3 bench/spawn_gaps.py pipec.data pipec true
    perf sched record -o make.data make -r -s -j2 -f wide.mk
    python3 bench/spawn_gaps.py make.data make true

Arguments: the perf data file, the spawning program's name (`comm`, at most 15 characters)
and the action program's name.
"""

import bisect
import re
import statistics
import subprocess
import sys

LINE = re.compile(r"\s*([\d.]+)\s+\[(\d+)\]\s+(\S+)\s*(.*)")
TASK = re.compile(r"(.+)\[(\d+)(?:/(\d+))?\]$")


def timehist(path):
    """The lines of `perf sched timehist -w` for the recording at `path`."""
    out = subprocess.run(
        ["perf", "sched", "timehist", "-i", path, "-w"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, spawner, action = argv[1], argv[2], argv[3]
    ends = {}  # action pid -> the last time it was seen on a CPU
    spawns = {}  # spawning pid -> the times it woke a new process of its own name
    delays = {}  # spawning pid -> scheduling delays (ms)
    idle = 0.0
    for line in timehist(path):
        m = LINE.match(line)
        if not m:
            continue
        t, task, rest = float(m.group(1)), m.group(3), m.group(4)
        if task == "<idle>":
            # Its "run time" is how long the CPU was idle.
            fields = rest.split()
            if len(fields) >= 3:
                idle += float(fields[2])
            continue
        name = TASK.match(task)
        if not name:
            continue
        comm, pid, tid = name.group(1), name.group(2), name.group(3)
        if comm == action:
            ends[pid] = t
            continue
        if comm != spawner:
            continue
        # The spawning thread: `comm[tid/pid]`, or `comm[pid]` when it is the main thread.
        who = tid or pid
        woke = re.search(r"awakened: " + re.escape(spawner) + r"\[(\d+)\]$", rest)
        if woke:
            spawns.setdefault(who, []).append(t)
            continue
        fields = rest.split()
        if len(fields) >= 3 and not rest.startswith("awakened"):
            delays.setdefault(who, []).append(float(fields[1]))
    if not spawns:
        print(f"no process of {spawner!r} spawned anything", file=sys.stderr)
        return 1
    # The spawner: the thread that spawned the most (its children are also named `spawner`
    # until they exec, and wake it back once).
    who = max(spawns, key=lambda k: len(spawns[k]))
    times = sorted(spawns[who])
    gaps = []
    for end in sorted(ends.values()):
        i = bisect.bisect_left(times, end)
        if i < len(times):
            gaps.append((times[i] - end) * 1000)
    if not gaps:
        print(f"no process of {action!r} ended before a spawn", file=sys.stderr)
        return 1
    gaps.sort()
    own = delays.get(who, [])
    print(
        f"{spawner}: {len(ends)} {action} processes, {len(times)} spawns; "
        f"end -> next spawn: median {statistics.median(gaps):.3f} ms, "
        f"mean {statistics.mean(gaps):.3f} ms, p90 {gaps[int(len(gaps) * 0.9)]:.3f} ms; "
        f"CPUs idle {idle:.1f} ms; spawning thread waited for a CPU {sum(own):.1f} ms "
        f"({sum(1 for d in own if d > 0.2)} times > 0.2 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
