/**
 * Runs the real polkitd as an oracle: a private system bus (dbus-daemon with its own config and socket
 * in a temp dir) and polkitd in a private mount namespace whose rules and actions directories are
 * bind-mounted temp dirs, so nothing on the host changes. Needs root and `.ci/setup-polkit.sh`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const POLKITD = '/usr/lib/polkit-1/polkitd';
export const LIBVIRT_POLICY = '/usr/share/polkit-1/actions/org.libvirt.api.policy';
const TOOLS = [POLKITD, '/usr/bin/pkcheck', '/usr/bin/dbus-daemon', '/usr/bin/unshare', '/usr/bin/setpriv', LIBVIRT_POLICY];

/** Why the oracle cannot run here, or undefined when it can. */
export function oracleUnavailable(): string | undefined {
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length > 0) return `missing ${missing.join(', ')}: run \`bash .ci/setup-polkit.sh\` as root`;
  if (process.getuid?.() !== 0) return 'the polkit oracle needs root (private mount namespace, setpriv)';
  return undefined;
}

export type PkResult = 'yes' | 'no' | 'challenge';

export interface Oracle {
  /** The private system bus polkitd listens on (DBUS_SYSTEM_BUS_ADDRESS for pkcheck). */
  busAddress: string;
  /** The directory bind-mounted over /etc/polkit-1/rules.d: polkitd reloads when a file in it changes. */
  rulesDir: string;
  check(pid: number, actionId: string, details: Record<string, string>): Promise<PkResult>;
  /** A long-running process owned by `user`, whose pid stands for that user's libvirt client. */
  processAs(user: string): number;
  close(): Promise<void>;
}

function waitFor(child: ChildProcess, pattern: RegExp, what: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), ms);
    const on = (b: Buffer): void => {
      if (seen.length < 20_000) seen += b.toString();
      if (pattern.test(seen)) { clearTimeout(timer); resolve(); }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}): ${seen}`)); });
  });
}

const busConfig = (socket: string): string => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/>
    <allow send_destination="*" eavesdrop="false"/><allow receive_sender="*"/>
  </policy>
</busconfig>
`;

/** Start dbus-daemon and polkitd with `etcRules` in /etc/polkit-1/rules.d and extra action files. */
export async function startOracle(etcRules: Record<string, string>, extraActions: Record<string, string> = {}): Promise<Oracle> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-polkit-'));
  const socket = join(dir, 'bus');
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` };
  const children: ChildProcess[] = [];
  const close = async (): Promise<void> => {
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2_000))]);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const dirs = { etc: join(dir, 'etc-rules'), usr: join(dir, 'usr-rules'), actions: join(dir, 'actions') };
    for (const d of Object.values(dirs)) mkdirSync(d);
    for (const [name, text] of Object.entries(etcRules)) writeFileSync(join(dirs.etc, name), text);
    copyFileSync(LIBVIRT_POLICY, join(dirs.actions, 'org.libvirt.api.policy'));
    for (const [name, text] of Object.entries(extraActions)) writeFileSync(join(dirs.actions, name), text);
    // polkitd drops to user polkitd before reading rules and connecting to the bus.
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'bus.conf'), busConfig(socket));
    const bus = spawn('dbus-daemon', ['--nofork', '--nopidfile', `--config-file=${join(dir, 'bus.conf')}`, '--print-address'], { env });
    children.push(bus);
    await waitFor(bus, /unix:path=/, 'dbus-daemon');
    const mounts = `mount --bind ${dirs.etc} /etc/polkit-1/rules.d && mount --bind ${dirs.usr} /usr/share/polkit-1/rules.d`
      + ` && mount --bind ${dirs.actions} /usr/share/polkit-1/actions && exec ${POLKITD}`;
    const polkitd = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', mounts], { env });
    children.push(polkitd);
    await waitFor(polkitd, /Acquired the name org\.freedesktop\.PolicyKit1/, 'polkitd');
  } catch (e) {
    await close();
    throw e;
  }
  return {
    busAddress: `unix:path=${socket}`,
    rulesDir: join(dir, 'etc-rules'),
    check: (pid, actionId, details) => new Promise((resolve, reject) => {
      const args = ['--action-id', actionId, '--process', String(pid)];
      for (const [k, v] of Object.entries(details)) args.push('--detail', k, v);
      const pk = spawn('pkcheck', args, { env });
      let err = '';
      pk.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      pk.on('error', reject);
      pk.on('exit', (code) => {
        if (code === 0) resolve('yes');
        else if (code === 1) resolve('no');
        else if (code === 2) resolve('challenge');
        else reject(new Error(`pkcheck ${args.join(' ')} exited ${code}: ${err}`));
      });
    }),
    processAs: (user) => {
      const p = spawn('setpriv', ['--reuid', user, '--regid', user, '--init-groups', 'sleep', '600'], { stdio: 'ignore' });
      children.push(p);
      if (p.pid === undefined) throw new Error(`could not start a process as ${user}`);
      return p.pid;
    },
    close,
  };
}
