// Kept for importers of the old name; the agent's settings are declared in settings.ts.
export {
  AGENT_SETTINGS,
  AGENT_SPEC,
  settingsFromEnv,
  type AgentMode,
  type AgentPorts,
  type AgentSettings,
} from './settings.js';
