// The CopilotKit runtime, with graphwire's demo agent as an AG-UI HttpAgent.
// graphwire speaks AG-UI itself: no adapter, no LangGraph Platform.
import { HttpAgent } from "@ag-ui/client";
import { CopilotRuntime, createCopilotRuntimeHandler } from "@copilotkit/runtime/v2";
import { agentUrl, authHeaders } from "../../../graphwire";

const runtime = new CopilotRuntime({
  // "default" is the agent CopilotKit's components talk to.
  agents: { default: new HttpAgent({ url: agentUrl, headers: authHeaders }) },
});

const handler = createCopilotRuntimeHandler({ runtime, basePath: "/api/copilotkit" });

export const GET = handler;
export const POST = handler;
