// OS.RemovePersistentNetRulesPeriod: udev persistent-net rules moved out of the way (docs/os.md §6.2).
import { netRulesChore } from '../chores.ts';
import { sec, type Duty } from './context.ts';

export const netRules: Duty = (d) => [
  { name: 'RemovePersistentNetworkRules', periodMs: sec(d.ctx.config.int('OS.RemovePersistentNetRulesPeriod')), run: netRulesChore(d.ctx.root, d.ctx.config.str('Lib.Dir')) },
];
