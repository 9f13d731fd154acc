/** The real vSphere simulator (test/vcsim/vcsim, built by .ci/build-vcsim.sh from Debian's govmomi sources). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './server.ts';

export const VCSIM = fileURLToPath(new URL('../vcsim/vcsim', import.meta.url));

export interface Vcsim { url: string; process: ChildProcess }

/** Starts vcsim on a free loopback port with one user; fails (never skips) when the binary is missing. */
export async function startVcsim(username: string, password: string): Promise<Vcsim> {
  if (!existsSync(VCSIM)) {
    throw new Error(`${VCSIM} is missing: build it with \`bash .ci/build-vcsim.sh\` (root on Debian 12; npm test runs it through test/prepare.ts)`);
  }
  const port = await freePort();
  const child = spawn(VCSIM, ['-port', String(port), '-username', username, '-password', password], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`vcsim did not print its URL within 15 s; stderr: ${stderr}`)), 15_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /VCSIM_URL=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vcsim exited with ${code} before serving; stderr: ${stderr}`));
    });
  });
  return { url, process: child };
}

export async function stopVcsim(v: Vcsim): Promise<void> {
  if (v.process.exitCode !== null || v.process.signalCode !== null) return;
  const exited = new Promise((resolve) => v.process.once('exit', resolve));
  v.process.kill('SIGTERM');
  await exited;
}
