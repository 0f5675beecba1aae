// Tests only: real servers on loopback, and fixtures in the shapes of FOGIS and the Python services.

// Stand-ins for the docker compose v1 and v2 CLIs (v2 cannot be installed here).
export {
  type ComposeCall,
  type FakeComposeClis,
  type FakeComposeOptions,
  fakeComposeClis,
} from "./compose-clis.js";
// Real CalDAV/CardDAV servers (Radicale, Xandikos).
export {
  type DavServerHandle,
  type DavServerKind,
  NO_DAV_SERVER_HELP,
  type StartDavServerOptions,
  startDavServer,
  startRadicale,
  startXandikos,
} from "./dav-servers.js";
// An answer too large to read: for tests of reading limits.
export { answerEndlessly, type EndlessAnswer } from "./endless-answer.js";
// Fixtures: FOGIS matches, referees, contacts; the live Python processor's envelopes.
export {
  fogisContact,
  fogisMatch,
  fogisMatchList,
  fogisReferee,
  type MatchInput,
  type PythonEnvelopeOptions,
  pythonMatchUpdatesEnvelope,
  pythonProcessingStatusEnvelope,
  type RefereeInput,
} from "./fixtures.js";
// A stand-in for Google Calendar v3, People v1 and OAuth, following Google's documented behaviour.
export {
  type Fault,
  type GoogleStandIn,
  type GoogleStandInOptions,
  type LoggedRequest,
  type StoredEvent,
  type StoredPerson,
  startGoogleStandIn,
} from "./google-server.js";
// The HTTP server inside a stand-in: a free loopback port, stopped with every connection cut.
export { LoopbackServer } from "./loopback-server.js";
// Answers like the Python calendar service's POST /manual-sync.
export { PythonManualSyncStandIn } from "./python-calendar.js";
// A real Redis for every test that needs one.
export {
  freePort,
  NO_REDIS_HELP,
  plainRedisClient,
  type RedisHandle,
  type RedisKind,
  type StartRedisOptions,
  startRedis,
} from "./redis.js";
// Redis Sentinel groups as real processes.
export {
  NO_SENTINEL_HELP,
  type SentinelGroup,
  type SentinelGroupOptions,
  type SentinelHandle,
  startSentinelGroup,
} from "./sentinel.js";
