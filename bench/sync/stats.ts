/** Percentiles, spreads and /proc readings for the sync benchmark. */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

/** Growable sample of latencies (ms). */
export class Samples {
  #values: number[] = [];
  add(v: number): void {
    this.#values.push(v);
  }
  get count(): number {
    return this.#values.length;
  }
  percentile(p: number): number {
    if (this.#values.length === 0) return NaN;
    const sorted = [...this.#values].sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[idx]!;
  }
  max(): number {
    return this.#values.reduce((m, v) => Math.max(m, v), -Infinity);
  }
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function spread(values: readonly number[]): { median: number; min: number; max: number; n: number } {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

const CLK_TCK = 100; // `getconf CLK_TCK` on Linux

/** utime + stime of a process in milliseconds (from /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Event-loop delay of this (load-generator) process over a window. */
export class LoopLag {
  static readonly RESOLUTION_MS = 5;
  readonly #h: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({ resolution: LoopLag.RESOLUTION_MS });
  start(): void {
    this.#h.reset();
    this.#h.enable();
  }
  /** p99 of the delay beyond the sampling interval, in ms since start() (the histogram includes the interval itself). */
  stop(): number {
    this.#h.disable();
    return Math.max(0, this.#h.percentile(99) / 1e6 - LoopLag.RESOLUTION_MS);
  }
}

export const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/**
 * Diagnostics (`BENCH_SERVER_STALLS=<ms>` for the server and load generator): logs to stderr every event-loop
 * stall and every GC pause longer than that many milliseconds, and the main thread's utilisation every second,
 * with the time since the call, to find tail sources.
 */
export function traceStalls(label: string, thresholdMs: number): void {
  const t0 = performance.now();
  const at = (): string => ((performance.now() - t0) / 1000).toFixed(2);
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - 1 > thresholdMs) process.stderr.write(`[stall] ${label} t=${at()} s loop blocked ${(now - last).toFixed(1)} ms\n`);
    last = now;
  }, 1).unref();
  let elu = performance.eventLoopUtilization();
  let cpu = process.cpuUsage();
  let main = process.threadCpuUsage();
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    const c = process.cpuUsage(cpu);
    const m = process.threadCpuUsage(main);
    const ms = (us: number): string => (us / 1000).toFixed(0);
    process.stderr.write(
      `[elu] ${label} t=${at()} s main thread busy ${(100 * performance.eventLoopUtilization(now, elu).utilization).toFixed(0)} %; ` +
        `CPU ms in the last second: process ${ms(c.user)} user + ${ms(c.system)} sys, main thread ${ms(m.user)} user + ${ms(m.system)} sys\n`,
    );
    elu = now;
    cpu = process.cpuUsage();
    main = process.threadCpuUsage();
  }, 1_000).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration > thresholdMs) process.stderr.write(`[gc] ${label} t=${at()} s kind ${((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind ?? '?'} ${e.duration.toFixed(1)} ms\n`);
    }
  }).observe({ entryTypes: ['gc'] });
}
