import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isRole, type Role } from '../roles.ts';

/**
 * OIDC single sign-on settings (docs/sso.md). Validated once; a half-configured provider fails fast at
 * start-up rather than at a user's first sign-in.
 */
export interface OidcConfig {
  /** Issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE only, token endpoint auth `none`). */
  clientSecret?: string;
  /** Accord's callback as registered at the provider: `https://accord.example.org/api/auth/oidc/callback`. */
  redirectUrl: string;
  /** Space-separated scopes requested; `openid` is always included. */
  scopes: string;
  /** Claim (in the ID token or userinfo) holding the user's group names. */
  groupsClaim: string;
  /** Role given to a user created on first sign-in (and kept when no role mapping matches). */
  defaultRole: Role;
  /** Optional: provider group → Accord role. With it, the role follows the provider at every sign-in. */
  roleMapping?: Readonly<Record<string, Role>>;
  /** Optional: provider group → Accord group. Without it, provider groups are used by their sanitised names. */
  groupMapping?: Readonly<Record<string, string>>;
}

const RoleSchema = z.string().refine(isRole, 'a role: viewer, reviewer, approver or admin').transform((r) => r as Role);

const Schema = z.strictObject({
  issuer: z.url(),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2_000).optional(),
  redirectUrl: z.url(),
  scopes: z.string().regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/).default('openid profile email'),
  groupsClaim: z.string().min(1).max(200).default('groups'),
  defaultRole: RoleSchema.default('viewer'),
  roleMapping: z.record(z.string().min(1), RoleSchema).optional(),
  groupMapping: z.record(z.string().min(1), z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)).optional(),
});

const ENV = {
  ACCORD_OIDC_ISSUER: 'issuer',
  ACCORD_OIDC_CLIENT_ID: 'clientId',
  ACCORD_OIDC_CLIENT_SECRET: 'clientSecret',
  ACCORD_OIDC_REDIRECT_URL: 'redirectUrl',
  ACCORD_OIDC_SCOPES: 'scopes',
  ACCORD_OIDC_GROUPS_CLAIM: 'groupsClaim',
  ACCORD_OIDC_DEFAULT_ROLE: 'defaultRole',
} as const;

/** Validates a settings object (from a JSON file, the environment or a test). Throws with every problem listed. */
export function parseOidcConfig(raw: unknown): OidcConfig {
  const parsed = Schema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid OIDC configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  const scopes = c.scopes.split(' ');
  const issuer = new URL(c.issuer);
  if (issuer.protocol !== 'https:' && !isLoopback(issuer)) throw new Error('invalid OIDC configuration: issuer must be https (http only on loopback, for tests)');
  return {
    issuer: c.issuer, clientId: c.clientId, redirectUrl: c.redirectUrl, groupsClaim: c.groupsClaim, defaultRole: c.defaultRole,
    scopes: (scopes.includes('openid') ? scopes : ['openid', ...scopes]).join(' '),
    ...(c.clientSecret !== undefined ? { clientSecret: c.clientSecret } : {}),
    ...(c.roleMapping !== undefined ? { roleMapping: c.roleMapping } : {}),
    ...(c.groupMapping !== undefined ? { groupMapping: c.groupMapping } : {}),
  };
}

/**
 * SSO settings from `ACCORD_OIDC_CONFIG` (a JSON file with the fields of OidcConfig) or the
 * `ACCORD_OIDC_*` variables (the variables override the file). Null when SSO is not configured.
 */
export function loadOidcConfig(env: NodeJS.ProcessEnv = process.env): OidcConfig | null {
  const raw: Record<string, unknown> = {};
  const file = env.ACCORD_OIDC_CONFIG;
  if (file) {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`invalid OIDC configuration: ${file} must hold a JSON object`);
    Object.assign(raw, json);
  }
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  if (Object.keys(raw).length === 0) return null;
  return parseOidcConfig(raw);
}

/** http is accepted only for a provider on this machine (tests, local development). */
export function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
}
