/**
 * A bare node:http server whose every request costs the same CPU time, for the HTTP bench's fairness rows: it shows
 * what the fair intake (service/intake.ts) changes in the latency tail when nothing else varies.
 *
 *   node dist/bench/fixed-cost-server.js <cost-ms> <direct|intake>
 *
 * Prints `{"port":N}` once listening on an ephemeral loopback port. Each POST is read whole, then costs <cost-ms> of
 * busy CPU, then gets a 200 with a fixed 11 kB body (the size of a dry-run admission answer); `intake` starts each
 * request's work through an AdmissionIntake, `direct` starts it as soon as its body has been read.
 */
import http from 'node:http';
import { AdmissionIntake } from '../service/intake';

const costMs = Number(process.argv[2]);
const mode = process.argv[3];
if (!(costMs >= 0) || (mode !== 'direct' && mode !== 'intake')) {
  process.stderr.write('usage: fixed-cost-server <cost-ms> <direct|intake>\n');
  process.exit(2);
}
const answer = Buffer.from(JSON.stringify({ manifest: 'x'.repeat(11_000) }));
const intake = new AdmissionIntake();

function work(res: http.ServerResponse): void {
  const until = performance.now() + costMs;
  while (performance.now() < until) {
    // busy: the request's CPU cost
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
  res.end(answer);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (mode === 'direct') work(res);
    else void intake.turn().then(() => work(res));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
