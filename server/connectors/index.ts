/** The connectors of this build, one per backend that can be connected as a target (docs/targets.md). */
import { libvirtConnector } from './libvirt/connector.ts';
import { proxmoxConnector } from './proxmox/connector.ts';
import { vsphereConnector } from './vsphere/connector.ts';
import { xapiConnector } from './xapi/connector.ts';
import type { ConnectorFactory } from './types.ts';

export const CONNECTORS: readonly ConnectorFactory[] = [libvirtConnector, proxmoxConnector, vsphereConnector, xapiConnector];
