/**
 * Stand-alone entry for the access CLI, shaped like `server/cli.ts`:
 * `node server/backends/access-cli-main.ts access <command> ...`.
 */
import { runAccessCli } from './access-cli.ts';

const line = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);

if (process.argv[2] !== 'access') {
  process.stderr.write('usage: node server/backends/access-cli-main.ts access <command> ...\n');
  process.exitCode = 2;
} else {
  process.exitCode = await runAccessCli(process.argv.slice(3), (s) => process.stdout.write(line(s)), (s) => process.stderr.write(line(s)));
}
