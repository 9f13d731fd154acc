import express from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Serves the built web app with an SPA fallback to index.html; says how to build it when missing. */
export function staticWeb(webDir: string): express.Router {
  const router = express.Router();
  const index = join(webDir, 'index.html');
  router.use(express.static(webDir, { index: false, maxAge: '1h' }));
  router.get(/^\/(?!api\/|socket\.io\/).*/, (_req, res) => {
    if (existsSync(index)) return res.sendFile(index, { headers: { 'Cache-Control': 'no-cache' } });
    res.status(503).type('text/plain').send('The web app is not built: run `npm run build` (npm start does it for you).');
  });
  return router;
}
