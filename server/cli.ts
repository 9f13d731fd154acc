import { parseArgs } from 'node:util';
import { loadConfig } from './config.ts';
import { openDatabase } from './store/sqlite/database.ts';
import { UserStore } from './auth/user-store.ts';
import { isRole, ROLES } from './auth/roles.ts';
import { AppError } from './protocol/errors.ts';

const USAGE = `usage: accord <command>
  user add NAME --role ROLE [--password PW] [--data DIR]   create a user; prints an API token last
  access import|effective|render|impact --backend B ...     the access model (docs/cli.md)`;

async function userCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { role: { type: 'string' }, password: { type: 'string' }, data: { type: 'string' } },
  });
  const [verb, name] = positionals;
  if (verb !== 'add' || !name) throw new AppError('invalid_payload', USAGE);
  if (!isRole(values.role)) throw new AppError('invalid_payload', `--role must be one of ${ROLES.join(', ')}`);
  const config = loadConfig(values.data ? ['--data', values.data] : []);
  const db = openDatabase(config.dataDir);
  try {
    const { principal, token } = await new UserStore(db).addUser(name, values.role, values.password);
    process.stdout.write(`created ${principal.role} ${principal.username} in ${config.dataDir}\nAPI token (shown once):\n${token}\n`);
    return 0;
  } finally {
    db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'user':
      return userCommand(rest);
    case 'access': {
      const { runAccessCli } = await import('./backends/access-cli.ts');
      return runAccessCli(rest, (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`), (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`));
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
