// -serialconsole: the boot console on ttyS0 (Azure serial console), idempotently.
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { detectDistro } from '../os/distro.ts';
import { configureSerialConsole } from '../os/grub.ts';
import { log } from '../util/logger.ts';

export async function runSerialConsole(ctx: Invocation): Promise<number> {
  const flatcar = detectDistro(ctx.root).family === 'flatcar';
  const r = await configureSerialConsole(ctx.root, ctx.runner, flatcar);
  const regen = r.regenerated ? `; ${r.regenerated} regenerated` : '';
  const msg = r.changed
    ? `Configured kernel to use ttyS0 as the boot console: ${r.file} (backup ${r.backup}); ${r.note}${regen}`
    : `${r.file}: ${r.note}${regen}`;
  log.info(msg);
  ctx.io.out(`${msg}\n`);
  if (r.regenerateError) {
    // The file is edited but the boot loader does not know yet: not a success.
    log.error(`grub.cfg not regenerated, the serial console applies only after it is: ${r.regenerateError}`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}
