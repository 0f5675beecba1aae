import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * The one logger: structured pino JSON with stable `event` names. Secrets are kept out by
 * construction (config is logged redacted); the redact list is a safety net for headers and
 * fields that carry credentials.
 *
 * By default it writes to stdout synchronously: a line is out when the call returns. pino's
 * asynchronous default buffers, and its exit hook then writes the buffer past a write still in
 * flight ("stopped cleanly" came out before "shutting down"), and a crash or SIGKILL loses it.
 * The services log a few lines per cycle and per snapshot, so the writes cost nothing measurable.
 */
export function createLogger(
  options: { name: string; level?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers.cookie",
          "headers.authorization",
          "password",
          "*.password",
          "token",
          "*.token",
          "apiToken",
          "*.apiToken",
          "API_TOKEN",
          "*.API_TOKEN",
        ],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
