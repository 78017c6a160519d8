// Capture the agent's log in a test: the logger's appenders are replaced by one MemoryAppender and put
// back when the test ends.
import type { TestContext } from 'node:test';
import { MemoryAppender, log } from '../../src/util/logger.ts';

export function captureLog(t: TestContext): MemoryAppender {
  const mem = new MemoryAppender();
  const saved = log.appenders;
  log.appenders = [mem];
  t.after(() => { log.appenders = saved; });
  return mem;
}
