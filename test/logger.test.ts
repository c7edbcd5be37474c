/** The log format: one JSON object per line with level, message, timestamp, service and pid; never a throw on odd values. */
import { createLogger } from '../gateway/logger';

function captureLines(run: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('createLogger', () => {
  test('writes one JSON line per entry with the request id, level, timestamp, service and pid', () => {
    const logger = createLogger('info');
    const [line, ...rest] = captureLines(() => {
      logger.info('admission', { requestId: 'req-1', services: ['s1:accepted'] });
      logger.debug('below the level');
    });
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 'info', message: 'admission', requestId: 'req-1', services: ['s1:accepted'], service: 'eac', pid: process.pid });
    expect(new Date(String(line!.timestamp)).toISOString()).toBe(line!.timestamp);
  });

  test('values JSON.stringify cannot write (a cycle, a BigInt) are still logged, not thrown', () => {
    const logger = createLogger('info');
    const cyclic: Record<string, unknown> = { x: 1 };
    cyclic.self = cyclic;
    const lines = captureLines(() => {
      logger.info('cycle', { cyclic });
      logger.info('bigint', { n: 10n });
    });
    expect(lines[0]).toMatchObject({ message: 'cycle', cyclic: { x: 1, self: '[Circular]' } });
    expect(lines[1]).toMatchObject({ message: 'bigint', n: '10' });
  });

  test('errors keep their stack', () => {
    const logger = createLogger('info');
    const [line] = captureLines(() => logger.error('failed', new Error('boom')));
    expect(line).toMatchObject({ level: 'error', message: 'failed boom' });
    expect(String(line!.stack)).toMatch(/^Error: boom\n\s+at /);
  });
});
