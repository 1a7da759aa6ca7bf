// Where the graphwire server is. AGENT_SERVER_URL, not GRAPHWIRE_*: graphwire
// reads every GRAPHWIRE_* variable as one of its own settings.
export const serverUrl = (process.env.AGENT_SERVER_URL ?? "http://127.0.0.1:8000").replace(
  /\/$/,
  "",
);
export const agentName = process.env.AGENT_NAME ?? "demo";
export const agentUrl = `${serverUrl}/agents/${agentName}`;
