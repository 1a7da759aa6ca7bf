// Where the graphwire server is, and its API key if it has one. AGENT_*, not
// GRAPHWIRE_*: graphwire reads every GRAPHWIRE_* variable as a setting of its own.
export const serverUrl = (process.env.AGENT_SERVER_URL ?? "http://127.0.0.1:8000").replace(
  /\/$/,
  "",
);
export const agentName = process.env.AGENT_NAME ?? "demo";
export const agentUrl = `${serverUrl}/agents/${agentName}`;
const apiKey = process.env.AGENT_API_KEY;
export const authHeaders: Record<string, string> = apiKey
  ? { Authorization: `Bearer ${apiKey}` }
  : {};
