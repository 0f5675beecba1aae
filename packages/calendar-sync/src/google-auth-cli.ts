import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { GoogleFileError } from "./backends/google/google-token-file.js";
import { ConsentError, runGoogleConsent } from "./google-consent.js";

/**
 * `pnpm google-auth`: connects a Google account once and writes the token file calendar-sync
 * reads (GOOGLE_TOKEN_FILE). Run it on a computer with a browser; copy the file to the server.
 */

const HELP = `pnpm google-auth [options]

Connects your Google account to FOGIS Realtime once: opens Google's consent page, and writes the
token file calendar-sync uses (GOOGLE_TOKEN_FILE), in the same format as the Python service's
token.json. Run it on a computer with a browser, then copy the file to the server.

Options:
  --credentials FILE  the OAuth client JSON of a "Desktop app" client
                      (default: $GOOGLE_CREDENTIALS_FILE, else ./credentials.json)
  --out FILE          where to write the token (default: $GOOGLE_TOKEN_FILE, else ./token.json)
  --port N            loopback port for Google's redirect (default: any free one; set one to
                      tunnel it, e.g. ssh -L 8085:127.0.0.1:8085 server, then --port 8085)
  --no-browser        only print the address to open
  --auth-url URL      Google's consent page (for tests)
  --token-url URL     Google's token endpoint (default: $GOOGLE_OAUTH_TOKEN_URL; for tests)
  -h, --help          this text
`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // pnpm runs root scripts in the repository root; relative paths mean where the user typed.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const clientFile = resolve(
    cwd,
    values.credentials ?? process.env.GOOGLE_CREDENTIALS_FILE ?? "credentials.json",
  );
  const outFile = resolve(cwd, values.out ?? process.env.GOOGLE_TOKEN_FILE ?? "token.json");
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write(`--port: expected a port number, got ${values.port}\n`);
    return 2;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const result = await runGoogleConsent({
      clientFile,
      outFile,
      port,
      authUrl: values["auth-url"],
      tokenUrl: values["token-url"] ?? process.env.GOOGLE_OAUTH_TOKEN_URL,
      log: say,
      open(url) {
        say("Open this address in a browser on this computer, sign in and allow access:\n");
        say(`  ${url}\n`);
        if (!values["no-browser"]) openBrowser(url);
      },
    });
    say(`\nSaved ${result.file}`);
    if (result.contactsMissing) {
      say(
        "Contacts access was not granted: calendar-sync will write the calendar only. Set GOOGLE_CONTACTS_GROUP= (empty), or run pnpm google-auth again and tick the contacts box.",
      );
    }
    say(
      "\nNext: copy it to the server next to calendar-sync (it must stay writable: the service saves refreshed tokens into it), set GOOGLE_TOKEN_FILE to its path, and restart calendar-sync.",
    );
    return 0;
  } catch (error) {
    if (error instanceof ConsentError || error instanceof GoogleFileError) {
      process.stderr.write(`google-auth: ${error.message}\n`);
      return 1;
    }
    const data = (error as { response?: { data?: { error?: string; error_description?: string } } }).response
      ?.data;
    if (data?.error) {
      process.stderr.write(
        `google-auth: Google refused the sign-in: ${data.error} ${data.error_description ?? ""}\n`,
      );
      return 1;
    }
    process.stderr.write(`google-auth: ${(error as Error).message}\n`);
    return 1;
  }
}

function parse() {
  return parseArgs({
    options: {
      credentials: { type: "string" },
      out: { type: "string" },
      port: { type: "string" },
      "no-browser": { type: "boolean" },
      "auth-url": { type: "string" },
      "token-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
}

/** Best effort: the platform's opener; without one the printed address is enough. */
function openBrowser(url: string): void {
  const command =
    process.platform === "darwin"
      ? ["open", url]
      : process.platform === "win32"
        ? ["cmd", "/c", "start", "", url]
        : ["xdg-open", url];
  try {
    const child = spawn(command[0] as string, command.slice(1), { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // No opener: the address is printed above.
  }
}

process.exitCode = await main();
