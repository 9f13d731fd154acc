/**
 * First step of `npm test`: prepares what the suite needs from the machine that `npm install` cannot
 * bring, so `npm install && npm test` passes on a fresh machine of this kind (Debian, root): Debian's
 * Chromium for the browser suites, HAProxy for the cluster suite, and the polkit oracle of the libvirt backend's tests
 * (`.ci/setup-polkit.sh`: polkitd, dbus-daemon, libvirt's action file, test accounts). Both are
 * idempotent and quick once done. Without root it says what is missing; the suites that need it then
 * fail with the same message (ACCORD_SKIP_POLKIT=1 skips the oracle).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { oracleUnavailable } from './backends/libvirt/polkit-harness.ts';

const root = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

if (!existsSync('/usr/bin/chromium')) {
  if (root) {
    process.stderr.write('npm test: installing Debian\'s chromium for the browser suites (once per machine)...\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status;
    if (install() !== 0 && (spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status !== 0 || install() !== 0)) {
      process.stderr.write('npm test: installing chromium failed; the browser suites will fail and say why\n');
    }
  } else {
    process.stderr.write('npm test: /usr/bin/chromium is missing (apt-get install chromium); the browser suites will fail\n');
  }
}

// HAProxy, the real load balancer in front of the cluster tests' three nodes (test/cluster/).
if (!existsSync('/usr/sbin/haproxy')) {
  if (root) {
    process.stderr.write('npm test: installing Debian\'s haproxy for the cluster tests (once per machine)...\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { stdio: ['ignore', 'ignore', 'inherit'], env }).status;
    if (install() !== 0 && (spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status !== 0 || install() !== 0)) {
      process.stderr.write('npm test: installing haproxy failed; the load-balancer tests will fail and say why\n');
    }
  } else {
    process.stderr.write('npm test: /usr/sbin/haproxy is missing (apt-get install haproxy); the load-balancer tests will fail\n');
  }
}

const missing = oracleUnavailable();
if (missing && process.env.ACCORD_SKIP_POLKIT !== '1') {
  if (root) {
    process.stderr.write('npm test: preparing the polkit oracle (bash .ci/setup-polkit.sh, once per machine)...\n');
    const run = spawnSync('bash', ['.ci/setup-polkit.sh'], { stdio: 'inherit' });
    if (run.status !== 0) {
      process.stderr.write(`npm test: .ci/setup-polkit.sh failed (exit ${run.status}); the polkit oracle tests will fail and say why\n`);
    }
  } else {
    process.stderr.write(`npm test: the polkit oracle tests will fail: ${missing} (ACCORD_SKIP_POLKIT=1 skips them)\n`);
  }
}

// vcsim, the vSphere simulator the vSphere connector tests run against (test/vcsim/vcsim, built from
// Debian's govmomi sources by .ci/build-vcsim.sh: about 40 s the first time, a no-op while the binary is
// newer than test/vcsim/main.go, so it also rebuilds after main.go changes).
// Without root it still builds when Go and govmomi are installed, else it says what to install.
const vcsim = spawnSync('bash', ['.ci/build-vcsim.sh'], { stdio: 'inherit' });
if (vcsim.status !== 0) {
  process.stderr.write(`npm test: .ci/build-vcsim.sh failed (exit ${vcsim.status}); the vSphere connector tests will fail and say why\n`);
}
