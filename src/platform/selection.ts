// Fabric vs Fast Track extensions goal state (protocol.md §2.4): never go back to an older goal state;
// when both sources changed, the newer by created-on ticks wins (tenant-cert rotation bumps the
// incarnation without new extensions, so "the WireServer changed" alone does not mean "use it").
import type { ExtensionsGoalState } from './types.ts';
import { compareTicks } from './ticks.ts';

/**
 * @param current the goal state being executed (null at start)
 * @param fromWire ExtensionsConfig, only when the WireServer incarnation changed
 * @param fromVmSettings vmSettings, only when its ETag changed AND its source is not 'Fabric'
 * @returns the goal state to switch to, or null to keep `current`
 */
export function selectExtensionsGoalState(current: ExtensionsGoalState | null, fromWire: ExtensionsGoalState | null, fromVmSettings: ExtensionsGoalState | null): ExtensionsGoalState | null {
  let candidate: ExtensionsGoalState | null;
  if (fromWire && fromVmSettings) {
    candidate = compareTicks(fromVmSettings.createdOnTicks, fromWire.createdOnTicks) > 0 ? fromVmSettings : fromWire;
  } else {
    candidate = fromWire ?? fromVmSettings;
  }
  if (!candidate) return null;
  if (current && current.id === candidate.id) return null;
  if (current && compareTicks(candidate.createdOnTicks, current.createdOnTicks) < 0) return null;
  return candidate;
}
