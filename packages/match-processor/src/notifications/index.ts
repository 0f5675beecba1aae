import type { Logger } from "@fogis/runtime";
import type { Registry } from "prom-client";
import { hasNotificationTargets, type NotificationConfig } from "./config.js";
import { ChangeNotifier, type ChangeNotifierOptions } from "./notifier.js";
import { SecretRedactor, urlSecrets } from "./redact.js";
import { createTargets, type TargetDeps } from "./targets.js";

/** What the rest of the processor uses of notifications: the factory, the notifier, its state file. */
export { NOTIFICATION_STATE_FILE } from "./ledger.js";
export type { ChangeNotifier } from "./notifier.js";

/** Every secret in the notification config, for the redactor. */
function notificationSecrets(config: NotificationConfig): SecretRedactor {
  return new SecretRedactor([
    ...(config.webhook ? urlSecrets(config.webhook.url) : []),
    ...(config.ntfy ? [...urlSecrets(config.ntfy.url), config.ntfy.token] : []),
    ...(config.email ? urlSecrets(config.email.smtpUrl) : []),
  ]);
}

export interface NotifierDeps
  extends TargetDeps,
    Pick<ChangeNotifierOptions, "retryDelaysMs" | "maxRetryAfterMs" | "maxPendingPerTarget"> {
  dataDir: string;
  logger: Logger;
  registry: Registry;
}

/** The notifier for the configured targets, or null when none is configured. */
export function createChangeNotifier(config: NotificationConfig, deps: NotifierDeps): ChangeNotifier | null {
  if (!hasNotificationTargets(config)) return null;
  const { dataDir, logger, registry, fetch, timeoutMs, now, ...tuning } = deps;
  const targetDeps: TargetDeps = {
    ...(fetch ? { fetch } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(now ? { now } : {}),
  };
  return new ChangeNotifier({
    targets: createTargets(config, targetDeps),
    dataDir,
    language: config.language,
    minPriority: config.minPriority,
    logger,
    registry,
    redactor: notificationSecrets(config),
    ...tuning,
    ...(now ? { now } : {}),
  });
}
