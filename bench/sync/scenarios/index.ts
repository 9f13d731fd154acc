import type { ScenarioId } from '../common.ts';
import type { RunContext, RunResult } from './harness.ts';
import { typical } from './typical.ts';
import { hot } from './hot.ts';
import { idle } from './idle.ts';
import { ramp } from './ramp.ts';
import { cold } from './cold.ts';
import { storm } from './storm.ts';

export const SCENARIOS: Record<ScenarioId, { title: string; run: (ctx: RunContext) => Promise<RunResult> }> = {
  A: { title: 'A. Typical sessions: 100 rooms × 8 clients, 1 vote/s + 0.2 annotations/s per room, presence 1 Hz', run: typical },
  B: { title: 'B. Hot review: 1 room × 60 clients, votes 5 → 20 → 80 /s, presence 1 Hz', run: hot },
  C: { title: 'C. Idle scale: 1,000 seeded ~10 KB docs × 1 client', run: idle },
  D: { title: 'D. Ramp to saturation: 50 rooms × 10 clients, aggregate votes/s stepped', run: ramp },
  E: { title: 'E. Cold load of a ~1 MB doc and a 50-client join storm on another cold 1 MB doc', run: cold },
  F: { title: 'F. Reconnect storm after SIGKILL: 20 rooms × 5 clients writing 200 votes/s', run: storm },
};
