import express from 'express';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

const COMPRESSIBLE: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/**
 * Vite's hashed assets (`/assets/*`), gzipped once and kept in memory: they never change under a name,
 * so each is compressed on first request and served as is afterwards (`immutable`). A client that does
 * not accept gzip, or any other file, falls through to express.static.
 */
function gzippedAssets(webDir: string): express.RequestHandler {
  const root = resolve(webDir);
  const cache = new Map<string, { body: Buffer; type: string; mtimeMs: number }>();
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.path.startsWith('/assets/')) return next();
    const type = COMPRESSIBLE[extname(req.path)];
    if (!type || !/\bgzip\b/.test(req.get('accept-encoding') ?? '')) return next();
    let file: string;
    try {
      file = resolve(root, `.${decodeURIComponent(req.path)}`);
    } catch {
      return next(); // malformed percent-encoding: express.static refuses it
    }
    if (!file.startsWith(root + sep)) return next();
    let stat;
    try {
      stat = statSync(file);
    } catch {
      return next(); // not there: express.static answers (404 through the SPA fallback's rules)
    }
    if (!stat.isFile()) return next();
    let entry = cache.get(file);
    if (!entry || entry.mtimeMs !== stat.mtimeMs) {
      entry = { body: gzipSync(readFileSync(file), { level: 9 }), type, mtimeMs: stat.mtimeMs };
      cache.set(file, entry);
    }
    res.set({
      'Content-Type': entry.type, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding',
      'Content-Length': String(entry.body.length), 'Cache-Control': 'public, max-age=31536000, immutable',
    });
    res.status(200).end(req.method === 'HEAD' ? undefined : entry.body);
  };
}

/** Serves the built web app with an SPA fallback to index.html; says how to build it when missing. */
export function staticWeb(webDir: string): express.Router {
  const router = express.Router();
  const index = join(webDir, 'index.html');
  router.use(gzippedAssets(webDir));
  router.use(express.static(webDir, { index: false, maxAge: '1h' }));
  router.get(/^\/(?!api\/|socket\.io\/).*/, (_req, res) => {
    if (existsSync(index)) return res.sendFile(index, { headers: { 'Cache-Control': 'no-cache' } });
    res.status(503).type('text/plain').send('The web app is not built: run `npm run build` (npm start does it for you).');
  });
  return router;
}
