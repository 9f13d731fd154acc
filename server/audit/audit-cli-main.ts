/**
 * Stand-alone entry for the audit CLI, shaped like `server/cli.ts`:
 * `node server/audit/audit-cli-main.ts audit verify [--data DIR] [--database-url URL [--database-schema NAME]] [--witness FILE | --no-anchor] [--pack FILE] [--public-key FILE]`.
 */
import { runAuditCli } from './audit-cli.ts';

const line = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);

if (process.argv[2] !== 'audit') {
  process.stderr.write('usage: node server/audit/audit-cli-main.ts audit verify [--data DIR] [--database-url URL [--database-schema NAME]] [--witness FILE | --no-anchor] [--pack FILE]\n');
  process.exitCode = 2;
} else {
  process.exitCode = await runAuditCli(process.argv.slice(3), (s) => process.stdout.write(line(s)), (s) => process.stderr.write(line(s)));
}
