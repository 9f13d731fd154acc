/** OIDC single sign-on (docs/sso.md). The lead mounts `oidcRouter(deps)` at `/api/auth/oidc`. */
export { oidcRouter, FLOW_COOKIE, FLOW_TTL_MS, MAX_PENDING_FLOWS, type OidcRouterDeps } from './oidc-router.ts';
export { loadOidcConfig, parseOidcConfig, type OidcConfig } from './oidc-config.ts';
export { OidcUsers, OIDC_SCHEMA, sanitiseName, accordGroups, mappedRole } from './oidc-users.ts';
