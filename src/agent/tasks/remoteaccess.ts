// JIT remote access (2.15): after the status report, on each new incarnation, the goal state's remote-access
// users are created, updated or removed. Run by the goal-state duty, not on a timer of its own.
import type { DutyContext } from './context.ts';
import { decryptRemoteAccessPassword } from '../../platform/remoteaccess.ts';
import { OpenSsl } from '../../crypto/openssl.ts';
import { errorText, log } from '../../util/logger.ts';
import { JitAccounts, RemoteAccessDuty } from '../jit.ts';

export function remoteAccessRun(d: DutyContext): () => Promise<void> {
  const c = d.ctx.config;
  const { protocol, libDir } = d;
  const openssl = c.str('OS.OpensslPath') || 'openssl';
  const ossl = new OpenSsl(openssl, d.ctx.runner);
  const event = (ok: boolean, msg: string) => d.event('RemoteAccessHandling', ok, msg);
  const accounts = new JitAccounts({
    root: d.ctx.root, runner: d.ctx.runner,
    decrypt: async (enc) => decryptRemoteAccessPassword(ossl, enc, await protocol.wire.transportPair(), libDir),
    sudoersDir: c.str('OS.SudoersDir'), passwordPath: c.str('OS.PasswordPath'),
    cryptId: c.str('Provisioning.PasswordCryptId'), saltLength: c.int('Provisioning.PasswordCryptSaltLength'), openssl,
    event,
  });
  const duty = new RemoteAccessDuty({
    accounts,
    incarnation: () => protocol.wire.current?.incarnation ?? null,
    fetch: async () => { const gs = protocol.wire.current; return gs ? protocol.wire.fetchRemoteAccess(gs) : null; },
  });
  return async () => {
    try {
      await duty.run();
    } catch (e) {
      const msg = `Exception processing goal state for remote access users: ${errorText(e)}`;
      log.warn(msg);
      event(false, msg);
    }
  };
}
