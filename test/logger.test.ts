/** The log format: one JSON object per line with level, message, timestamp, service and pid; never a throw on odd values. */
import { Writable } from 'node:stream';
import { createLogger } from '../gateway/logger';

/** A logger writing into memory, and the JSON lines it wrote once `run` is done. */
async function captureLines(run: (logger: ReturnType<typeof createLogger>) => void): Promise<Record<string, unknown>[]> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  run(createLogger('info', false, sink));
  await new Promise((resolve) => setImmediate(resolve)); // let winston's pipeline flush, should it defer
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('createLogger', () => {
  test('writes one JSON line per entry with the request id, level, timestamp, service and pid', async () => {
    const [line, ...rest] = await captureLines((logger) => {
      logger.info('admission', { requestId: 'req-1', services: ['s1:accepted'] });
      logger.debug('below the level');
    });
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 'info', message: 'admission', requestId: 'req-1', services: ['s1:accepted'], service: 'eac', pid: process.pid });
    expect(new Date(String(line!.timestamp)).toISOString()).toBe(line!.timestamp);
  });

  test('values JSON.stringify cannot write (a cycle, a BigInt) are still logged, not thrown', async () => {
    const cyclic: Record<string, unknown> = { x: 1 };
    cyclic.self = cyclic;
    const lines = await captureLines((logger) => {
      logger.info('cycle', { cyclic });
      logger.info('bigint', { n: 10n });
    });
    expect(lines[0]).toMatchObject({ message: 'cycle', cyclic: { x: 1, self: '[Circular]' } });
    expect(lines[1]).toMatchObject({ message: 'bigint', n: '10' });
  });

  test('errors keep their stack', async () => {
    const [line] = await captureLines((logger) => logger.error('failed', new Error('boom')));
    expect(line).toMatchObject({ level: 'error', message: 'failed boom' });
    expect(String(line!.stack)).toMatch(/^Error: boom\n\s+at /);
  });
});
