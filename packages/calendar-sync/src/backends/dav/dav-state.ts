import { z } from "zod";

/**
 * The DAV backends' state file (`caldav.json`, `carddav.json`): the collection found or made, the
 * sync token of the last pass, and per item where it is, the ETag last seen and what was written.
 */

const ItemStateSchema = z.object({
  /** Path of the resource on the server. */
  href: z.string(),
  /** The server's ETag as last seen; null when unknown (then it is read before a write). */
  etag: z.string().nullable(),
  /** Hash of what FOGIS showed when we last wrote it (or found it current); null: not known yet. */
  hash: z.string().nullable(),
  /** The server copy is exactly what we rendered, with nothing of the referee's to keep. */
  pristine: z.boolean(),
  /** The referee deleted it; left alone until the hash changes. */
  deleted: z.boolean(),
  sequence: z.number().int().optional(),
  owned: z.array(z.string()).optional(),
});

export const DavStateSchema = z.object({
  version: z.literal(1),
  /** Which server, account and collection the items live in. */
  target: z.string(),
  collectionUrl: z.string().nullable(),
  syncToken: z.string().nullable(),
  items: z.record(z.string(), ItemStateSchema),
});

export type DavItemState = z.infer<typeof ItemStateSchema>;
export type DavState = z.infer<typeof DavStateSchema>;
