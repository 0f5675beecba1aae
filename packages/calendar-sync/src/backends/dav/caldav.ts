import type { StoredCalendarEvent } from "../../calendar-backend.js";
import { renderCalendarObject } from "../../ics.js";
import { ALARM_MINUTES_BEFORE, matchEventUid } from "../../match-event.js";
import { DavBackend, type DavBackendOptions } from "./dav-backend.js";
import type { DavFlavor, DavItem } from "./dav-flavor.js";
import {
  type EventMergeOptions,
  eventFingerprint,
  eventSequence,
  mergeEvent,
  parseContent,
} from "./merge.js";

/**
 * The referee's calendar on a CalDAV server (Nextcloud, iCloud, Fastmail, Radicale, Baikal): one
 * event per match, `fogis-match-<matchid>.ics`, with the feed's UID and the feed's own VEVENT text
 * (`renderCalendarObject`, the one iCalendar writer), merged into the server copy when the
 * referee has added to it.
 */

export function createCalDavBackend(options: Omit<DavBackendOptions, "flavor" | "name">): DavBackend {
  return new DavBackend({ ...options, name: "caldav", flavor: calendarFlavor });
}

const NAME = /^fogis-match-(\d+)\.ics$/;
const UID = /^fogis-match-\d+@fogis-realtime$/;
const ALARM_TRIGGER_SECONDS = -ALARM_MINUTES_BEFORE * 60;

export const calendarFlavor: DavFlavor = {
  kind: "caldav",
  label: "calendar",
  collectionType: "calendar",
  collectionVariable: "CALDAV_CALENDAR",
  items: (snapshot) => snapshot.events.map(eventItem),
  keyForName(name) {
    const match = NAME.exec(name);
    return match ? matchEventUid(Number(match[1])) : undefined;
  },
  keysIn: (data) =>
    parseContent(data).flatMap((calendar) =>
      calendar.children.flatMap((child) =>
        child.kind === "component" && child.name === "VEVENT"
          ? child.children.flatMap((line) =>
              line.kind === "line" && line.name === "UID" && UID.test(line.value) ? [line.value] : [],
            )
          : [],
      ),
    ),
};

function eventItem(event: StoredCalendarEvent): DavItem {
  const merge: EventMergeOptions = { uid: event.uid, alarmTriggerSeconds: ALARM_TRIGGER_SECONDS };
  return {
    key: event.uid,
    name: `fogis-match-${event.matchid}.ics`,
    hash: event.contentHash,
    render(previous, server) {
      // SEQUENCE never goes down, also when the feed's count restarted or a client raised it.
      const sequence = Math.max(
        event.sequence,
        (previous?.sequence ?? -1) + 1,
        server === undefined ? 0 : eventSequence(server, event.uid) + 1,
      );
      const ours = renderCalendarObject({ ...event, sequence });
      return { body: server === undefined ? ours : mergeEvent(server, ours, merge), extra: { sequence } };
    },
    shows(server) {
      const ours = renderCalendarObject(event);
      return eventFingerprint(server, ours, merge) === eventFingerprint(ours, ours, merge);
    },
  };
}
