// The ES module entry point: the one implementation (index.cts), re-exported, so that ESM and
// CommonJS users share the same module instance.
export { FauxAuthError, findBinary, start } from "./index.cjs";
export type {
  ClientCredentials,
  Clock,
  Config,
  Duration,
  EventQuery,
  FaultRule,
  FauxAuth,
  FauxAuthEvent,
  RevokeTarget,
  StartOptions,
  TokenResponse,
} from "./index.cjs";
