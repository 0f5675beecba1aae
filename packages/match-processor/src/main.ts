import { ConfigError, createLogger, exitOnSignals } from "@fogis/runtime";
import { loadProcessorConfig, SERVICE_NAME } from "./config.js";
import { startProcessorService } from "./service.js";

/** Entry point: config from the environment, the logger, the service, and signal handling. */

let config: ReturnType<typeof loadProcessorConfig>;
try {
  config = loadProcessorConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const logger = createLogger({ name: SERVICE_NAME, level: config.logLevel });
try {
  const service = await startProcessorService(config, logger);
  exitOnSignals({ logger, stop: service.stop });
} catch (error) {
  logger.fatal({ event: "start_failed", err: error }, `could not start: ${(error as Error).message}`);
  process.exit(1);
}
