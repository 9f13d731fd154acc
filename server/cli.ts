import { parseArgs } from 'node:util';
import { loadConfig } from './config.ts';
import { openDatabase } from './store/sqlite/database.ts';
import { UserStore } from './auth/user-store.ts';
import { isRole, ROLES } from './auth/roles.ts';
import { AppError } from './protocol/errors.ts';
import { writeFileSync } from 'node:fs';
import { exportRemote, statusCommand, submitCommand, voteCommand } from './cli-client.ts';

const USAGE = `usage: accord <command>
  user add NAME --role ROLE [--password PW] [--groups G1,G2] [--data DIR]   create a user; prints an API token last
  access import|effective|render|impact --backend B ...     the access model (docs/backends.md)
  submit FILE --url URL --token TOKEN                      submit a change file (JSON or YAML); prints its id last
  status ID --url URL --token TOKEN [--json]               a change's status and policy requirements
  vote ID approve|reject|abstain [--reason R] [--item I] --url URL --token TOKEN
  export ID --format json|html [--out FILE] [--data DIR | --url URL --token TOKEN]   an evidence pack
  audit verify [--data DIR] [--pack FILE] [--public-key FILE]   check the audit chain or an evidence pack
  audit public-key [--data DIR] > server-public.pem          the server's public key, for pinning`;

async function userCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { role: { type: 'string' }, password: { type: 'string' }, groups: { type: 'string' }, data: { type: 'string' } },
  });
  const [verb, name] = positionals;
  if (verb !== 'add' || !name) throw new AppError('invalid_payload', USAGE);
  if (!isRole(values.role)) throw new AppError('invalid_payload', `--role must be one of ${ROLES.join(', ')}`);
  const config = loadConfig(values.data ? ['--data', values.data] : []);
  const db = openDatabase(config.dataDir);
  try {
    const users = new UserStore(db);
    const { principal, token } = await users.addUser(name, values.role, values.password);
    if (values.groups) users.addToGroups(principal.userId, values.groups.split(',').map((g) => g.trim()).filter(Boolean));
    process.stdout.write(`created ${principal.role} ${principal.username} in ${config.dataDir}\nAPI token (shown once):\n${token}\n`);
    return 0;
  } finally {
    db.close();
  }
}

async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { format: { type: 'string', default: 'json' }, out: { type: 'string' }, data: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } },
  });
  const [id] = positionals;
  const format = values.format;
  if (!id || (format !== 'json' && format !== 'html')) throw new AppError('invalid_payload', 'usage: accord export ID --format json|html [--out FILE] [--data DIR | --url URL --token TOKEN]');
  if (values.url || process.env.ACCORD_URL) return exportRemote(id, format, values, values.out, print);
  const { exportLocal } = await import('./commands/export-local.ts');
  const text = await exportLocal(loadConfig(values.data ? ['--data', values.data] : []).dataDir, id, format);
  if (values.out) writeFileSync(values.out, text);
  else print(text);
  return 0;
}

/** Prints the server's public key (SPKI PEM) so auditors can pin it: `audit verify --public-key FILE`. */
async function publicKeyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { data: { type: 'string' } } });
  const { loadServerKey } = await import('./audit/server-key.ts');
  const key = loadServerKey(loadConfig(values.data ? ['--data', values.data] : []).dataDir);
  process.stderr.write(`key id ${key.keyId}\n`);
  print(key.publicKeyPem);
  return 0;
}

const print = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const printErr = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'submit':
      return submitCommand(rest, print);
    case 'status':
      return statusCommand(rest, print);
    case 'vote':
      return voteCommand(rest, print);
    case 'export':
      return exportCommand(rest);
    case 'audit': {
      if (rest[0] === 'public-key') return publicKeyCommand(rest.slice(1));
      const { runAuditCli } = await import('./audit/audit-cli.ts');
      return runAuditCli(rest, print, printErr);
    }
    case 'user':
      return userCommand(rest);
    case 'access': {
      const { runAccessCli } = await import('./backends/access-cli.ts');
      return runAccessCli(rest, print, printErr);
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`accord: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
