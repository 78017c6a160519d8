// Fabric vs Fast Track extensions goal state (docs/protocol.md §2.4): never go back to an older goal state;
// when both sources changed, the newer by created-on ticks wins (tenant-cert rotation bumps the
// incarnation without new extensions, so "the WireServer changed" alone does not mean "use it").
import type { CertificateSummary, ExtensionsGoalState } from './types.ts';
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

/**
 * Fast Track tenant-certificate consistency (§2.4 step 7): thumbprints used by protected settings that the
 * installed certificates do not cover. Non-empty for a new Fast Track goal state => force a full refresh
 * (now, and once more a period later), then carry on anyway.
 */
export function missingThumbprints(gs: ExtensionsGoalState, certs: CertificateSummary[]): string[] {
  const have = new Set(certs.map((c) => c.thumbprint.toUpperCase()));
  const missing = new Set<string>();
  for (const h of gs.handlers) {
    for (const s of h.settings) {
      const t = s.protectedSettingsCertThumbprint;
      if (t && !have.has(t.toUpperCase())) missing.add(t.toUpperCase());
    }
  }
  return [...missing];
}
