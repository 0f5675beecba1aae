import { ConfigError, closeServer, createLogger, exitOnSignals, listen } from "@fogis/runtime";
import { type CalendarSyncConfig, loadCalendarSyncConfig, publicConfig } from "./config.js";
import { createCalendarSyncService } from "./service.js";

/** Entry point: environment -> config, logger, service, listen, signals. Nothing else. */

let config: CalendarSyncConfig;
try {
  config = loadCalendarSyncConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const logger = createLogger({ name: "calendar-sync", level: config.logLevel });
logger.info({ event: "config", redis: publicConfig(config), data_dir: config.dataDir }, "starting");

const service = await createCalendarSyncService({ config, logger });
let server: Awaited<ReturnType<typeof listen>>["server"];
try {
  const listening = await listen(service.app, config.port, config.host);
  server = listening.server;
  logger.info({ event: "listening", port: listening.port, host: config.host }, "calendar-sync listening");
} catch (error) {
  const reason = (error as Error).message;
  logger.fatal({ event: "listen_failed", err: reason, port: config.port }, `cannot listen: ${reason}`);
  await service.stop();
  process.exit(1);
}
service.start();

exitOnSignals({
  logger,
  stop: async () => {
    await closeServer(server);
    await service.stop();
  },
});
