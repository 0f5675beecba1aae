/**
 * Notification targets carry secrets in their addresses: a Discord or Slack webhook URL is its own
 * credential (the token is in the path), an ntfy topic is as good as a password, an SMTP URL holds
 * a password. The notifier shows each target by its origin only, and every error text it keeps,
 * logs or serves passes through `SecretRedactor`, which replaces each secret (also percent-encoded)
 * with `***`.
 */
export class SecretRedactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string | null | undefined>) {
    const all = new Set<string>();
    for (const secret of secrets) {
      // Short fragments ("/", "a") would shred ordinary text; no real secret is that short.
      if (!secret || secret.length < 4) continue;
      all.add(secret);
      all.add(encodeURIComponent(secret));
      all.add(encodeURI(secret));
    }
    // Longest first, so a URL goes before the path inside it.
    this.secrets = [...all].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join("***");
    return out;
  }
}

/** The secret-bearing parts of a URL: the whole URL, its user info, path and query. */
export function urlSecrets(url: string): Array<string | undefined> {
  try {
    const parsed = new URL(url);
    const path = parsed.pathname.replace(/^\/+|\/+$/g, "");
    return [
      url,
      parsed.username ? decodeURIComponent(parsed.username) : "",
      parsed.password ? decodeURIComponent(parsed.password) : "",
      parsed.password,
      path,
      // The token of a webhook URL, the topic of an ntfy URL.
      path.split("/").at(-1),
      parsed.search.slice(1),
    ];
  } catch {
    return [url];
  }
}

/** Where a target sends, without anything secret: scheme, host and port. */
export function describeDestination(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return "(unparseable url)";
  }
}
