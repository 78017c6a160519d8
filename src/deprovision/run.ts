// Executes a deprovision plan step by step, reporting each one. A failing step is reported and
// the remaining steps still run (a half-deprovisioned image is worse than one with a known gap);
// the caller turns any failure into a non-zero exit.
import type { Sysroot } from '../util/sysroot.ts';
import { removePaths } from '../os/files.ts';
import { errorText } from '../util/errors.ts';
import type { Plan } from './plan.ts';

export interface StepReport { id: string; title: string; items: string[]; ok: boolean; error?: string }

export function describePlan(plan: Plan): string[] {
  const out: string[] = [];
  for (const s of plan.steps) {
    out.push(`${s.title}: ${s.items.length === 0 ? 'nothing to do' : s.items.length + ' item(s)'}`);
    for (const i of s.items) out.push(`  ${i}`);
  }
  return out;
}

export async function runPlan(root: Sysroot, plan: Plan, report: (r: StepReport) => void): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const s of plan.steps) {
    const r: StepReport = { id: s.id, title: s.title, items: s.items, ok: true };
    try {
      removePaths(root, s.remove);
      if (s.action) await s.action();
    } catch (e) {
      r.ok = false;
      r.error = errorText(e);
    }
    reports.push(r);
    report(r);
  }
  return reports;
}
