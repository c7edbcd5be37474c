/**
 * Structured JSON logs (winston) on stdout; every admission log line carries its request id.
 * Level from configuration; `silent` for tests.
 */
import winston from 'winston';

export function createLogger(level: string, silent = false): winston.Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    // The pid tells the workers apart when AC_WORKERS > 1 (they share stdout).
    defaultMeta: { service: 'eac', pid: process.pid },
    transports: [new winston.transports.Console()],
  });
}
