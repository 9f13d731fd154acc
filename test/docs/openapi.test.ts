import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import express from 'express';
import { parse } from 'yaml';
import { changeRouter } from '../../server/http/change-routes.ts';
import { apiRouter } from '../../server/http/routes.ts';
import { accountRouter } from '../../server/http/account-routes.ts';
import { sessionRouter } from '../../server/http/session-routes.ts';
import { targetRouter } from '../../server/http/target-routes.ts';
import { campaignRouter } from '../../server/http/campaign-routes.ts';
import { webhookRouter } from '../../server/http/webhook-routes.ts';
import { notificationRouter } from '../../server/http/notification-routes.ts';
import { adminRouter } from '../../server/http/admin-routes.ts';
import { blastRouter } from '../../server/http/blast-routes.ts';

interface Layer { route?: { path: string; methods: Record<string, boolean> } }

function routesOf(router: express.Router): string[] {
  return (router.stack as unknown as Layer[])
    .filter((l) => l.route)
    .flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m} ${l.route!.path.replace(/:([a-z]+)/g, '{$1}')}`));
}

test('docs/openapi.yaml documents every REST route the server has, and nothing it does not', () => {
  const spec = parse(readFileSync('docs/openapi.yaml', 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)).sort();
  const stub = {} as never;
  const served = [...routesOf(changeRouter(stub)), ...routesOf(sessionRouter(stub)), ...routesOf(accountRouter(stub)), ...routesOf(apiRouter(stub)), ...routesOf(targetRouter(stub)), ...routesOf(campaignRouter(stub)), ...routesOf(webhookRouter(stub, stub, false)), ...routesOf(notificationRouter(stub, stub)), ...routesOf(adminRouter(stub)), ...routesOf(blastRouter(stub))].sort();
  assert.deepEqual(documented, served);
});
