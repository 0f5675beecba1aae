import { ConfigError, closeServer, createLogger, exitOnSignals, listen } from "@fogis/runtime";
import { loadProcessorConfig, type ProcessorConfig, SERVICE_NAME } from "./config.js";
import { createMatchProcessorService } from "./service.js";

/** Entry point: environment -> config, logger, service, listen, signals. Nothing else. */

let config: ProcessorConfig;
try {
  config = loadProcessorConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const logger = createLogger({ name: SERVICE_NAME, level: config.logLevel });
try {
  const service = await createMatchProcessorService({ config, logger });
  const { server, port } = await listen(service.app, config.port, config.host);
  logger.info({ event: "listening", port, ...service.summary }, `${SERVICE_NAME} listening on port ${port}`);
  await service.start();
  exitOnSignals({
    logger,
    stop: async () => {
      await service.stop();
      await closeServer(server);
    },
  });
} catch (error) {
  logger.fatal({ event: "start_failed", err: error }, `could not start: ${(error as Error).message}`);
  process.exit(1);
}
