/**
 * The fair intake: admissions start in arrival order, one per event-loop turn, with a poll for I/O between two starts;
 * waiters that give up leave the queue; a start never waits for an earlier admission to finish.
 */
import net from 'node:net';
import { AdmissionIntake } from '../service/intake';
import { AdmissionError } from '../model/errors';

describe('AdmissionIntake', () => {
  test('starts admissions in the order they arrived', async () => {
    const intake = new AdmissionIntake();
    const started: string[] = [];
    const runs = ['a', 'b', 'c', 'd'].map((id) => intake.turn().then(() => started.push(id)));
    expect(intake.waiting).toBe(4);
    await Promise.all(runs);
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    expect(intake.waiting).toBe(0);
  });

  test('never starts a waiter in the turn it arrived, nor two in one turn', async () => {
    const intake = new AdmissionIntake();
    const events: string[] = [];
    const a = intake.turn().then(() => events.push('a'));
    const b = intake.turn().then(() => events.push('b'));
    events.push('queued');
    // Queued in the same turn as the intake's first start, so it runs right after a; b starts on the next turn.
    setImmediate(() => events.push('rest of a’s turn'));
    await Promise.all([a, b]);
    expect(events).toEqual(['queued', 'a', 'rest of a’s turn', 'b']);
  });

  test('reads I/O that arrived during one admission before starting the next (the fairness it exists for)', async () => {
    const intake = new AdmissionIntake();
    const events: string[] = [];
    const server = net.createServer((socket) => socket.on('data', (d) => events.push(`read ${d.toString()}`)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', resolve));
    // Let the server accept the connection before the test starts.
    await new Promise((r) => setTimeout(r, 20));
    try {
      const a = intake.turn().then(() => {
        events.push('a');
        client.write('late request'); // arrives while a runs
      });
      const b = intake.turn().then(() => events.push('b'));
      await Promise.all([a, b]);
      // With the data read before b started, a request that came in during a is queued behind b but ahead of later ones;
      // without a poll between starts, b (and everything queued with it) would run first.
      await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(['a', 'read late request', 'b']);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a waiter whose signal aborts leaves the queue with the signal’s reason; the others still start', async () => {
    const intake = new AdmissionIntake();
    const controller = new AbortController();
    const started: string[] = [];
    const first = intake.turn().then(() => started.push('first'));
    const gone = intake.turn(controller.signal).then(() => started.push('gone'));
    const last = intake.turn().then(() => started.push('last'));
    const reason = new AdmissionError('AC_ERR_TIMEOUT', 'request exceeded 5 ms');
    controller.abort(reason);
    await expect(gone).rejects.toBe(reason);
    expect(intake.waiting).toBe(2);
    await Promise.all([first, last]);
    expect(started).toEqual(['first', 'last']);
  });

  test('an already aborted signal is refused at once, without queueing', async () => {
    const intake = new AdmissionIntake();
    const reason = new Error('client went away');
    await expect(intake.turn(AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(intake.waiting).toBe(0);
  });

  test('a start does not wait for the previous admission to finish (only starts are ordered)', async () => {
    const intake = new AdmissionIntake();
    let releaseFirst!: () => void;
    const firstDone = new Promise<void>((r) => (releaseFirst = r));
    const first = intake.turn().then(() => firstDone);
    const second = intake.turn().then(() => 'second started');
    await expect(second).resolves.toBe('second started');
    releaseFirst();
    await first;
  });

  test('reports every start with the time it waited', async () => {
    const waits: number[] = [];
    const intake = new AdmissionIntake({ started: (s) => waits.push(s) });
    await Promise.all([intake.turn(), intake.turn(), intake.turn()]);
    expect(waits).toHaveLength(3);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(0);
    // Later arrivals waited at least as long as their turn came later.
    expect(waits[2]!).toBeGreaterThanOrEqual(waits[0]! - 1e-6);
  });
});
