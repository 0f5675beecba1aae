import ora, { type Ora } from "ora";

/**
 * Progress as it happens: phase headings, then one line per action and gate check with a tick or a
 * cross and its timing. On a terminal each line is an ora spinner while it runs; elsewhere (CI,
 * pipes, files) plain lines, written once each line is done.
 */

export interface TaskLine {
  /** While running: what is being waited for. Shown by the spinner, ignored by plain output. */
  update(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
}

export interface Progress {
  heading(text: string): void;
  line(text: string): void;
  start(title: string): TaskLine;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1000)}s`;
}

export class PlainProgress implements Progress {
  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  heading(text: string): void {
    this.write(`\n${text}\n`);
  }

  line(text: string): void {
    this.write(`${text}\n`);
  }

  start(_title: string): TaskLine {
    return {
      update: () => undefined,
      succeed: (text) => this.write(`  [ok]   ${text}\n`),
      fail: (text) => this.write(`  [FAIL] ${text}\n`),
    };
  }
}

export class TerminalProgress implements Progress {
  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {}

  heading(text: string): void {
    this.stream.write(`\n${text}\n`);
  }

  line(text: string): void {
    this.stream.write(`${text}\n`);
  }

  start(title: string): TaskLine {
    const spinner: Ora = ora({ text: title, stream: this.stream, indent: 2, discardStdin: false }).start();
    return {
      update: (text) => {
        spinner.text = `${title} — ${text}`;
      },
      succeed: (text) => {
        spinner.succeed(text);
      },
      fail: (text) => {
        spinner.fail(text);
      },
    };
  }
}

export function progressFor(stream: NodeJS.WriteStream = process.stdout): Progress {
  return stream.isTTY && process.env.CI !== "true"
    ? new TerminalProgress(stream)
    : new PlainProgress((text) => stream.write(text));
}
