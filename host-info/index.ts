/**
 * Entry point of host-info: picks the capacity provider named by the configuration and says where the bundled default inventory is.
 * Callers (gateway, CLI) depend on this module and types.ts only; each provider module stays replaceable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdmissionError } from '../model/errors';
import { InventoryProvider } from './inventory';
import { OpenNebulaProvider } from './opennebula';
import { PhysicalHostsProvider } from './physical-hosts';
import type { HostInfoConfig, HostInfoProvider } from './types';

export * from './types';
export { InventoryProvider, parseInventory, type InventoryOptions } from './inventory';
export { HostSnapshotTooOldError } from './keeper';
export { PhysicalHostsProvider, parsePhysicalHosts } from './physical-hosts';
export { OpenNebulaProvider, parseHostPool, parseHostPoolResponse, hostPoolInfoCall } from './opennebula';

export function createHostInfoProvider(config: HostInfoConfig): HostInfoProvider {
  switch (config?.kind) {
    case 'inventory':
      return new InventoryProvider(config);
    case 'physical-hosts':
      return new PhysicalHostsProvider(config);
    case 'opennebula':
      return new OpenNebulaProvider(config);
    default: {
      const kind = (config as { kind?: unknown } | undefined)?.kind;
      throw new AdmissionError('AC_ERR_CONFIG', `host-info: unknown provider kind ${JSON.stringify(kind)} (inventory, physical-hosts, opennebula)`, [
        { field: 'hostInfo.kind', reason: `unknown kind ${JSON.stringify(kind)}` },
      ]);
    }
  }
}

export const DEFAULT_INVENTORY_FILE = 'inventory.default.json';

/**
 * The bundled fleet (config/inventory.default.json), so that a new user gets offers with nothing else running.
 * Looked up next to the sources and next to the compiled output (dist/host-info → ../../config), because tsc
 * does not copy JSON files into dist/.
 */
export function defaultInventoryPath(): string {
  const candidates = [path.resolve(__dirname, '..', 'config', DEFAULT_INVENTORY_FILE), path.resolve(__dirname, '..', '..', 'config', DEFAULT_INVENTORY_FILE)];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0]!;
}
