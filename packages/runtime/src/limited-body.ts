import { createReadStream } from "node:fs";

/**
 * Reading what another service or a file hands us without trusting its size: the bytes are
 * counted as they arrive and the read stops at the limit, so an endless or huge answer costs at
 * most `maxBytes` of memory, never the whole body first and a size check after.
 */

export class BodyTooLargeError extends Error {
  constructor(
    readonly limit: number,
    /** What was known when the read stopped: the announced Content-Length, or the bytes read so far. */
    readonly seen: number,
  ) {
    super(`over the limit of ${limit} bytes (at least ${seen} bytes)`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * The body of a fetch Response, at most `maxBytes`. A Content-Length over the limit is refused
 * before anything is read; otherwise the stream is read chunk by chunk and cancelled (closing the
 * connection) as soon as it passes the limit.
 */
export async function readResponseBody(response: Response, maxBytes: number): Promise<Uint8Array> {
  const announced = Number(response.headers.get("content-length"));
  if (Number.isFinite(announced) && announced > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(maxBytes, announced);
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(maxBytes, total);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

/** A file's content, at most `maxBytes` (never more than one byte past it is read). */
export async function readFileLimited(path: string, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // `end` is inclusive: reading up to maxBytes + 1 bytes tells "exactly at the limit" from "over it".
  for await (const chunk of createReadStream(path, { start: 0, end: maxBytes })) {
    const bytes = chunk as Buffer;
    total += bytes.byteLength;
    chunks.push(bytes);
  }
  if (total > maxBytes) throw new BodyTooLargeError(maxBytes, total);
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
