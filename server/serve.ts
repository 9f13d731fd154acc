import { flushCompileCache } from 'node:module';
import { loadConfig } from './config.ts';
import { createApp } from './app.ts';
import { createLogger } from './log.ts';

/** Starts Accord (loaded by main.ts once the compile cache is on): `npm start -- --port N --data DIR`. */
async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2));
  const log = createLogger(config.logLevel);
  const app = await createApp(config, log);
  const { port } = await app.listen();
  const where = config.host === '127.0.0.1' || config.host === '::1' || config.host === 'localhost'
    ? `http://localhost:${port} (this machine only; --host 0.0.0.0 listens on every interface)`
    : `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const storage = app.storage.kind === 'postgres' ? { database: app.db.target } : { dataDir: config.dataDir, sqliteWriter: app.sqliteWriter };
  log.info({ host: config.host, port, ...storage }, `Accord listening on ${where} (state in ${app.storage.kind === 'postgres' ? app.db.target : config.dataDir})`);
  // Node writes its compile cache at exit; a server that is killed never exits: write it now.
  flushCompileCache();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: flushing documents');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Last line of defence: every input path handles its own errors (test/security proves it), but a bug
  // there must cost one request, not the process and every reviewer's session.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`accord: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
