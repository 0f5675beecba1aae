import { encode } from "uqr";

/**
 * A QR code as inline SVG, generated on the server (no network, no script): `uqr` does the
 * encoding (Reed-Solomon, masking, version choice), we draw its module matrix as one path so the
 * SVG carries a title for screen readers and scales crisply. Medium error correction survives a
 * phone camera at an angle; the quiet zone is the 4 modules the standard asks for.
 */

const cache = new Map<string, string>();
const CACHE_LIMIT = 16;

export function qrSvg(text: string, label: string, id = "qr"): string {
  const key = `${id}\n${label}\n${text}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const { data, size } = encode(text, { ecc: "M", border: 4 });
  let path = "";
  data.forEach((row, y) => {
    // One horizontal run per stretch of dark modules keeps the path short.
    for (let x = 0; x < size; x++) {
      if (!row[x]) continue;
      let end = x;
      while (end + 1 < size && row[end + 1]) end++;
      path += `M${x} ${y}h${end - x + 1}v1H${x}z`;
      x = end;
    }
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" class="qr__code" viewBox="0 0 ${size} ${size}" ` +
    `role="img" aria-labelledby="${id}-title" shape-rendering="crispEdges">` +
    `<title id="${id}-title">${escapeXml(label)}</title>` +
    `<rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, svg);
  return svg;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
