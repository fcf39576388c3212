import fs from 'node:fs';

/*
 * CPU time read from /proc (Linux only; undefined elsewhere). CPU per request is the steadiest
 * figure on a shared machine: requests/s and latency move with everything else running, the
 * CPU a request costs does not.
 */

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU (ms) the process has used so far. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * CPU (ms) used so far by each PostgreSQL backend connected to `database` on this machine (their
 * process title names the database), by process id. Compare two readings with `cpuSpent`.
 */
export function postgresBackendsCpu(database: string): Map<number, number> | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  const backends = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let title: string;
    try {
      title = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!title.startsWith('postgres: ') || !title.split(' ').includes(database)) continue;
    const ms = cpuMs(Number(entry));
    if (ms !== undefined) backends.set(Number(entry), ms);
  }
  return backends;
}

/**
 * CPU spent between two readings of `postgresBackendsCpu`: backends that started in between
 * count whole; backends that ended in between are missing from the later reading, so what they
 * spent after the first is not counted (the figure is a lower bound when connections churn).
 */
export function cpuSpent(before: Map<number, number> | undefined, after: Map<number, number> | undefined) {
  if (!before || !after) return undefined;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * Records the CPU (ms) each of `pids` has used so far into `into` (processes not on this machine,
 * or gone, are skipped). Sampled now and then, it keeps what short-lived pool connections spent.
 */
export function recordCpuMs(pids: Iterable<number>, into: Map<number, number>): void {
  for (const pid of pids) {
    const ms = cpuMs(pid);
    if (ms !== undefined) into.set(pid, ms);
  }
}
