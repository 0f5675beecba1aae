import type { ServerResponse } from "node:http";

/** How far an endless answer got: bytes written, and whether the client hung up before its end. */
export interface EndlessAnswer {
  readonly written: number;
  readonly closedEarly: boolean;
}

/**
 * Answers 200 with a body that has no Content-Length (chunked: only reading tells its size):
 * `head`, then `chunk` again and again up to 64 MiB (if nobody stops reading), then `tail`. For
 * tests that a reader stops at its limit and hangs up instead of reading it all.
 */
export function answerEndlessly(
  res: ServerResponse,
  chunk: string,
  { head = "", tail = "" }: { head?: string; tail?: string } = {},
): EndlessAnswer {
  const answer = { written: 0, closedEarly: false };
  res.writeHead(200, { "content-type": "application/json" });
  if (head) res.write(head);
  const pump = () => {
    while (answer.written < 64 * 1024 * 1024) {
      if (res.destroyed) return;
      answer.written += chunk.length;
      if (!res.write(chunk)) {
        res.once("drain", pump);
        return;
      }
    }
    res.end(tail);
  };
  res.on("close", () => {
    answer.closedEarly = !res.writableFinished;
  });
  pump();
  return answer;
}
