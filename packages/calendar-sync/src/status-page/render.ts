import { type Language, texts } from "./i18n.js";
import { qrSvg } from "./qr.js";
import type { ChangeView, MatchView, StatusView, StepView } from "./view-model.js";

/**
 * The status page as HTML, rendered on the server: readable without JavaScript. The script
 * (assets/status-page.js) fetches the same page again every few seconds and patches only the
 * nodes that differ, so there is one renderer and no flicker. Every value is escaped; assets are
 * referenced relatively, so the page also works behind a reverse proxy under a path prefix.
 */

export interface RenderOptions {
  /** Seconds between the script's refreshes. */
  refreshSeconds: number;
}

const ICON: Record<StepView["status"], string> = { pass: "✓", warn: "!", fail: "✕" };

export function renderStatusPage(view: StatusView, options: RenderOptions): string {
  const t = texts(view.lang);
  const other = t.otherLanguage;
  return `<!doctype html>
<html lang="${view.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${view.verdict.headline} · ${t.title}`)}</title>
<link rel="icon" href="assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="assets/status-page.css">
<script type="module" src="assets/status-page.js"></script>
</head>
<body>
<a class="skip" href="#main">${escapeHtml(t.skipToContent)}</a>
<header class="top">
<p class="brand">FOGIS Realtime</p>
<a class="lang" href="?lang=${other.lang}" hreflang="${other.lang}" lang="${other.lang}">${escapeHtml(other.label)}</a>
</header>
<main id="main" data-live-root data-refresh-seconds="${options.refreshSeconds}">
<p class="offline" id="offline" role="alert" hidden>${escapeHtml(t.offline)}</p>
<section class="verdict verdict--${view.verdict.state}" aria-labelledby="verdict-heading">
<div role="status" aria-live="polite" aria-atomic="true">
<h1 id="verdict-heading"><span class="verdict__icon" aria-hidden="true"></span>${escapeHtml(view.verdict.headline)}</h1>
<p class="verdict__explanation">${escapeHtml(view.verdict.explanation)}</p>
</div>
<p class="verdict__calendar">${escapeHtml(view.verdict.calendar)}</p>
</section>
${renderPipeline(view, view.lang)}
${renderMatches(view)}
${renderChanges(view)}
${renderSubscribe(view)}
<p class="live-note">${escapeHtml(t.liveNote)}</p>
</main>
</body>
</html>
`;
}

function renderPipeline(view: StatusView, lang: Language): string {
  const t = texts(lang);
  const steps = view.pipeline
    .map(
      (step) => `<li class="step step--${step.status}" data-key="${escapeHtml(step.id)}">
<p class="step__name">${escapeHtml(step.name)}</p>
<p class="step__state"><span class="badge badge--${step.status}"><span aria-hidden="true">${ICON[step.status]}</span> ${escapeHtml(step.statusLabel)}</span></p>
<p class="step__when">${step.lastWorked ? `<time datetime="${escapeHtml(step.lastWorked)}">${escapeHtml(step.lastWorkedText)}</time>` : escapeHtml(step.lastWorkedText)}</p>
${step.reason ? `<p class="step__reason">${escapeHtml(step.reason)}</p>` : ""}
</li>`,
    )
    .join("\n");
  return `<section aria-labelledby="pipeline-heading">
<h2 id="pipeline-heading">${escapeHtml(t.sections.pipeline)}</h2>
<ol class="pipeline">
${steps}
</ol>
</section>`;
}

function renderMatches(view: StatusView): string {
  const t = texts(view.lang);
  const { items, more, empty } = view.matches;
  const list = items.length
    ? `<ul class="matches">\n${items.map((match) => renderMatch(match, view.lang)).join("\n")}\n</ul>`
    : "";
  return `<section aria-labelledby="matches-heading">
<h2 id="matches-heading">${escapeHtml(t.sections.matches)}</h2>
${empty ? `<p class="empty">${escapeHtml(empty)}</p>` : list}
${more ? `<p class="more">${escapeHtml(t.moreMatches(more))}</p>` : ""}
</section>`;
}

function renderMatch(match: MatchView, lang: Language): string {
  const t = texts(lang);
  const headingId = `match-${match.matchid}`;
  return `<li class="match match--${match.state}" data-key="match-${match.matchid}">
<h3 id="${headingId}" class="match__teams">${escapeHtml(match.home)} – ${escapeHtml(match.away)}</h3>
<p class="match__when"><time datetime="${escapeHtml(match.start)}">${escapeHtml(match.date)} · ${escapeHtml(match.kickoff)}</time>${
    match.stateLabel ? ` <span class="tag tag--${match.state}">${escapeHtml(match.stateLabel)}</span>` : ""
  }</p>
<dl class="match__facts">
<div><dt>${escapeHtml(t.venue)}</dt><dd>${escapeHtml(match.venue || "–")}</dd></div>
${match.referees.length ? `<div><dt>${escapeHtml(t.referees)}</dt><dd>${match.referees.map(escapeHtml).join(", ")}</dd></div>` : ""}
</dl>
${match.recentChange ? `<p class="match__change">${escapeHtml(match.recentChange)}</p>` : ""}
</li>`;
}

function renderChanges(view: StatusView): string {
  const t = texts(view.lang);
  const { items, empty } = view.changes;
  return `<section aria-labelledby="changes-heading">
<h2 id="changes-heading">${escapeHtml(t.sections.changes)}</h2>
${empty ? `<p class="empty">${escapeHtml(empty)}</p>` : `<ol class="changes">\n${items.map(renderChange).join("\n")}\n</ol>`}
</section>`;
}

function renderChange(change: ChangeView): string {
  return `<li class="change change--${change.kind}" data-key="change-${escapeHtml(change.key)}">
<p class="change__what"><strong>${escapeHtml(change.kindLabel)}</strong>: ${escapeHtml(change.title)}, ${escapeHtml(change.when)}</p>
${change.aspects.length ? `<ul class="change__aspects">${change.aspects.map((a) => `<li>${escapeHtml(a)}</li>`).join("")}</ul>` : ""}
<p class="change__reached"><time datetime="${escapeHtml(change.appliedAt)}">${escapeHtml(change.reached)}</time></p>
</li>`;
}

function renderSubscribe(view: StatusView): string {
  const t = texts(view.lang);
  const { feed, webcal, vcard, feedFetched } = view.subscribe;
  return `<section aria-labelledby="subscribe-heading">
<h2 id="subscribe-heading">${escapeHtml(t.sections.subscribe)}</h2>
<div class="subscribe">
<div class="subscribe__links">
<p>${escapeHtml(t.subscribe.intro)}</p>
<ul class="links">
<li><a class="button" href="${escapeHtml(webcal)}" data-link="webcal">${escapeHtml(t.subscribe.webcal)}</a></li>
<li>${escapeHtml(t.subscribe.feed)}:<br><a class="url" href="${escapeHtml(feed)}" data-link="feed">${escapeHtml(feed)}</a></li>
<li><a href="${escapeHtml(vcard)}" data-link="vcard" download="fogis-domare.vcf">${escapeHtml(t.subscribe.vcard)}</a><br><span class="hint">${escapeHtml(t.subscribe.vcardHint)}</span></li>
</ul>
<p class="hint">${escapeHtml(feedFetched)}</p>
</div>
<figure class="qr">
${qrSvg(feed, t.subscribe.qrLabel, "feed-qr")}
<figcaption>${escapeHtml(t.subscribe.qrCaption)}</figcaption>
</figure>
</div>
</section>`;
}

/** Shown instead of the page when FEED_TOKEN is set and the request has neither the token nor its cookie. */
export function renderLockedPage(lang: Language, wrongToken: boolean): string {
  const t = texts(lang);
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`${t.locked.headline} · ${t.title}`)}</title>
<link rel="icon" href="assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="assets/status-page.css">
</head>
<body>
<header class="top"><p class="brand">FOGIS Realtime</p></header>
<main id="main" class="locked">
<h1>${escapeHtml(t.locked.headline)}</h1>
<p>${escapeHtml(t.locked.explanation)}</p>
${wrongToken ? `<p class="error" role="alert">${escapeHtml(t.locked.wrong)}</p>` : ""}
<form method="get" action="">
<label for="token">${escapeHtml(t.locked.label)}</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<input type="hidden" name="lang" value="${lang}">
<button type="submit">${escapeHtml(t.locked.submit)}</button>
</form>
</main>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
