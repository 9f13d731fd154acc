/** Moved to server/store/sqlite/schema/webauthn.ts; re-exported here until database.ts imports it from there. */
export { WEBAUTHN_SCHEMA } from '../../store/sqlite/schema/webauthn.ts';
