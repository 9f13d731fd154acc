import { readFileSync } from 'node:fs';

export const PVE_SECRET = '5d2b6a3e-0c1f-4e8a-9b7d-3f6e2a1c9d04';

/** The fixture user.cfg with Accord's user and API token (Administrator on /: it may modify ACLs). */
export function pveUserCfg(): string {
  const fixture = readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8');
  return `user:accord@pve:1:0:::::\ntoken:accord@pve!apply:0:1:Accord connector:\n${fixture}\nacl:1:/:accord@pve:Administrator:\nacl:1:/:accord@pve!apply:Administrator:\n`;
}
