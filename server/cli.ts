import { parseArgs } from 'node:util';
import { loadConfig } from './config.ts';
import { openStorage, type Storage } from './store/open.ts';
import { UserStore } from './auth/user-store.ts';
import { NotificationRepository } from './store/repositories/notification-repository.ts';

/** Enough to refuse a typo; the mail server decides the rest. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
import { isRole, isScope, ROLES, SCOPES } from './auth/roles.ts';
import { AppError } from './protocol/errors.ts';
import { writeFileSync } from 'node:fs';
import { applyCommand, campaignCommand, exportRemote, statusCommand, submitCommand, targetCommand, voteCommand } from './cli-client.ts';

const USAGE = `usage: accord <command>
  user add NAME --role ROLE [--password-stdin] [--groups G1,G2] [--email ADDR]   create a user; prints an API token last
  user passwd NAME --password-stdin | user disable NAME | user enable NAME
      --password-stdin reads the password from standard input (asks for it, hidden, on a terminal);
      --password PW still works but puts it on a command line that npm echoes
  token add NAME --scope read|vote|signoff|admin|full [--expires-days N] [--label L] | token list NAME | token revoke NAME ID
  access import|effective|render|impact --backend B ...     the access model (docs/backends.md)
  submit FILE --url URL --token TOKEN                      submit a change file (JSON or YAML); prints its id last
  status ID --url URL --token TOKEN [--json]               a change's status and policy requirements
  vote ID approve|reject|abstain --revision HASH [--reason R] [--item I] --url URL --token TOKEN
  export ID --format json|html [--out FILE] [--url URL --token TOKEN]   an evidence pack (local storage without --url)
  apply ID [--no-wait] --url URL --token TOKEN             apply through the connected target and verify; last line: the state
  target add FILE | target read NAME | target list --url URL --token TOKEN   connect a hypervisor; read it now (drift)
  campaign create FILE.yaml | start ID | status ID | close ID | report ID [--format json|csv] --url URL --token TOKEN
  db migrate                                               create or upgrade the database's tables (also done at start)
  db copy --to postgres://... [--to-schema S]              copy a SQLite installation into an empty PostgreSQL database
  Commands that open storage take [--data DIR] [--database-url URL] [--database-schema S] (or ACCORD_DATA,
  ACCORD_DATABASE_URL, ACCORD_DATABASE_SCHEMA): SQLite in DIR unless a PostgreSQL URL is given (docs/storage.md).
  audit verify [--data DIR] [--witness FILE | --no-anchor] [--pack FILE] [--public-key FILE]   check the audit chain (and its anchor) or an evidence pack
  audit public-key [--data DIR] > server-public.pem          the server's public key, for pinning`;

/**
 * A password from standard input: on a terminal it asks, without echoing what is typed; from a pipe
 * (`printf %s "$PW" | accord user add ...`) it reads the first line. Never from the command line.
 */
async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    const line = text.split(/\r?\n/)[0] ?? '';
    if (!line) throw new AppError('invalid_payload', '--password-stdin: standard input held no password');
    return line;
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let typed = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      stdin.on('data', (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return resolve(typed);
          if (ch === '\u0003') return reject(new AppError('invalid_payload', 'cancelled'));
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      });
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stdin.removeAllListeners('data');
    process.stderr.write('\n');
  }
}

/** The options every command that opens storage takes. */
const STORAGE_OPTIONS = { data: { type: 'string' }, 'database-url': { type: 'string' }, 'database-schema': { type: 'string' } } as const;

interface StorageArgs {
  data?: string | undefined;
  'database-url'?: string | undefined;
  'database-schema'?: string | undefined;
}

/** Config from the environment and these flags (flags win), as the server would read it. */
function storageConfig(values: StorageArgs) {
  return loadConfig([
    ...(values.data ? ['--data', values.data] : []),
    ...(values['database-url'] ? ['--database-url', values['database-url']] : []),
    ...(values['database-schema'] ? ['--database-schema', values['database-schema']] : []),
  ]);
}

/** Opens the configured storage (migrating it), runs `fn`, closes it. `where` names it for messages. */
async function withStorage<T>(values: StorageArgs, fn: (storage: Storage, dataDir: string, where: string) => Promise<T>): Promise<T> {
  const config = storageConfig(values);
  const storage = await openStorage({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, poolSize: 2 });
  try {
    return await fn(storage, config.dataDir, storage.kind === 'postgres' ? storage.db.target : config.dataDir);
  } finally {
    await storage.close();
  }
}

async function withUsers<T>(values: StorageArgs, fn: (users: UserStore, where: string) => Promise<T>): Promise<T> {
  return withStorage(values, (storage, _dataDir, where) => fn(new UserStore(storage.db), where));
}

/** `accord user add|passwd|disable|enable NAME`: whoever can run this on the data directory is the admin. */
async function userCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { role: { type: 'string' }, password: { type: 'string' }, 'password-stdin': { type: 'boolean' }, groups: { type: 'string' }, email: { type: 'string' }, ...STORAGE_OPTIONS },
  });
  const [verb, name] = positionals;
  if (!name || !['add', 'passwd', 'disable', 'enable'].includes(verb ?? '')) throw new AppError('invalid_payload', USAGE);
  if (values.password !== undefined && values['password-stdin']) throw new AppError('invalid_payload', 'give --password or --password-stdin, not both');
  if (values.email !== undefined && !EMAIL.test(values.email)) throw new AppError('invalid_payload', `--email: "${values.email}" is not an e-mail address`);
  const password = values['password-stdin'] ? await readPassword(`Password for ${name}: `) : values.password;
  return withStorage(values, async (storage, _dataDir, where) => {
    const users = new UserStore(storage.db);
    if (values.email !== undefined && verb !== 'add') {
      if ((await new NotificationRepository(storage.db).setEmail(name, values.email)) === 0) throw new AppError('not_found', `no user "${name}"`);
    }
    if (verb === 'passwd') {
      if (!password) throw new AppError('invalid_payload', 'give the new password with --password-stdin');
      await users.setPassword(name, password);
      process.stdout.write(`password of ${name} reset; their sessions ended\n`);
      return 0;
    }
    if (verb === 'disable' || verb === 'enable') {
      await users.setDisabled(name, verb === 'disable');
      process.stdout.write(`${name} ${verb}d\n`);
      return 0;
    }
    if (!isRole(values.role)) throw new AppError('invalid_payload', `--role must be one of ${ROLES.join(', ')}`);
    const { principal, token } = await users.addUser(name, values.role, password);
    if (values.groups) await users.addToGroups(principal.userId, values.groups.split(',').map((g) => g.trim()).filter(Boolean));
    if (values.email) await new NotificationRepository(storage.db).setEmail(name, values.email);
    process.stdout.write(`created ${principal.role} ${principal.username} in ${where}\nAPI token (shown once):\n${token}\n`);
    return 0;
  });
}

/** `accord token add|list|revoke NAME`: scoped, expiring API tokens. */
async function tokenCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { scope: { type: 'string' }, 'expires-days': { type: 'string' }, label: { type: 'string' }, ...STORAGE_OPTIONS },
  });
  const [verb, name, id] = positionals;
  if (!name || !['add', 'list', 'revoke'].includes(verb ?? '')) throw new AppError('invalid_payload', USAGE);
  return withUsers(values, async (users) => {
    const userId = await users.userId(name);
    if (userId === null) throw new AppError('not_found', `no user "${name}"`);
    if (verb === 'list') {
      for (const t of await users.tokens(userId)) {
        const expires = t.expiresAt ? new Date(t.expiresAt).toISOString() : 'never';
        process.stdout.write(`${t.id}  ${t.scope.padEnd(7)}  ${t.revoked ? 'revoked' : `expires ${expires}`}  last used ${t.lastUsedAt ?? 'never'}  ${t.label}\n`);
      }
      return 0;
    }
    if (verb === 'revoke') {
      if (!id || (await users.revokeToken(userId, id)) === 0) throw new AppError('not_found', 'no such token: give the id `token list` shows');
      process.stdout.write(`revoked ${id}\n`);
      return 0;
    }
    if (!isScope(values.scope)) throw new AppError('invalid_payload', `--scope must be one of ${SCOPES.join(', ')}`);
    const days = values['expires-days'] === undefined ? undefined : Number(values['expires-days']);
    if (days !== undefined && !(Number.isInteger(days) && days > 0)) throw new AppError('invalid_payload', '--expires-days takes a whole number of days');
    const token = await users.issueToken(userId, values.label ?? 'cli', values.scope, days ? Date.now() + days * 86_400_000 : undefined);
    process.stdout.write(`${values.scope} token for ${name}${days ? `, expires in ${days} days` : ''} (shown once):\n${token}\n`);
    return 0;
  });
}

async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { format: { type: 'string', default: 'json' }, out: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, ...STORAGE_OPTIONS },
  });
  const [id] = positionals;
  const format = values.format;
  if (!id || (format !== 'json' && format !== 'html')) throw new AppError('invalid_payload', 'usage: accord export ID --format json|html [--out FILE] [--data DIR | --url URL --token TOKEN]');
  if (values.url || process.env.ACCORD_URL) return exportRemote(id, format, values, values.out, print);
  const { exportLocal } = await import('./commands/export-local.ts');
  const text = await withStorage(values, (storage, dataDir) => exportLocal(storage, dataDir, id, format));
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

/** `accord db migrate` and `accord db copy --to postgres://...` (docs/storage.md). */
async function dbCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { ...STORAGE_OPTIONS, to: { type: 'string' }, 'to-schema': { type: 'string' } },
  });
  const [verb] = positionals;
  if (verb === 'migrate') {
    return withStorage(values, async (_storage, _dataDir, where) => {
      print(`${where}: tables are up to date`);
      return 0;
    });
  }
  if (verb === 'copy') {
    if (!values.to) throw new AppError('invalid_payload', 'usage: accord db copy --to postgres://... [--to-schema S] [--data DIR]');
    const target = loadConfig(['--database-url', values.to, ...(values['to-schema'] ? ['--database-schema', values['to-schema']] : [])]);
    const { copyStorage } = await import('./store/copy.ts');
    return withStorage({ ...values, 'database-url': undefined }, async (source, dataDir) => {
      if (source.kind !== 'sqlite') throw new AppError('invalid_payload', 'db copy reads a SQLite installation (--data DIR)');
      const to = await openStorage({ dataDir, databaseUrl: target.databaseUrl, databaseSchema: target.databaseSchema, poolSize: 2 });
      try {
        const report = await copyStorage(source, to, dataDir);
        for (const line of report) print(line);
        return 0;
      } finally {
        await to.close();
      }
    });
  }
  throw new AppError('invalid_payload', USAGE);
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
    case 'apply':
      return applyCommand(rest, print);
    case 'target':
      return targetCommand(rest, print);
    case 'campaign':
      return campaignCommand(rest, print);
    case 'export':
      return exportCommand(rest);
    case 'audit': {
      if (rest[0] === 'public-key') return publicKeyCommand(rest.slice(1));
      const { runAuditCli } = await import('./audit/audit-cli.ts');
      return runAuditCli(rest, print, printErr);
    }
    case 'user':
      return userCommand(rest);
    case 'db':
      return dbCommand(rest);
    case 'token':
      return tokenCommand(rest);
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
