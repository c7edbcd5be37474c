/**
 * Structured JSON logs (winston) on stdout; every admission log line carries its request id.
 * Level from configuration; `silent` for tests.
 */
import winston from 'winston';

/** Where winston's transports read the finished line (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');
const logformJson = winston.format.json();

/**
 * One JSON line per entry with JSON.stringify: logform's json format builds a new serializer for every line and sorts
 * the keys, a third of the cost of logging an admission. An entry JSON.stringify cannot write (a cycle, a BigInt)
 * goes through logform's format, which can.
 */
const jsonLine = winston.format((info) => {
  try {
    (info as Record<symbol, unknown>)[MESSAGE] = JSON.stringify(info);
    return info;
  } catch {
    return logformJson.transform(info, logformJson.options);
  }
});

/** `stream`: where the lines go instead of stdout (tests). */
export function createLogger(level: string, silent = false, stream?: NodeJS.WritableStream): winston.Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), jsonLine()),
    // The pid tells the workers apart when AC_WORKERS > 1 (they share stdout).
    defaultMeta: { service: 'eac', pid: process.pid },
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console()],
  });
}
