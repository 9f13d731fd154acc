/** Moved to server/store/sqlite/schema/audit.ts; re-exported here until database.ts imports it from there. */
export { AUDIT_HEAD_SCHEMA, AUDIT_SCHEMA } from '../store/sqlite/schema/audit.ts';
