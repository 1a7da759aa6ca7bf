// The CopilotKit runtime, with graphwire's demo agent as an AG-UI HttpAgent.
// graphwire speaks AG-UI 1.0 natively: no adapter, no LangGraph Platform.
import { HttpAgent } from "@ag-ui/client";
import {
  CopilotRuntime,
  createCopilotRuntimeHandler,
  InMemoryAgentRunner,
} from "@copilotkit/runtime/v2";

const GRAPHWIRE = process.env.GRAPHWIRE_URL ?? "http://127.0.0.1:8000";

const runtime = new CopilotRuntime({
  agents: {
    // "default" is the agent CopilotKit's prebuilt components use.
    default: new HttpAgent({ url: `${GRAPHWIRE}/agents/demo` }),
  },
  runner: new InMemoryAgentRunner(),
});

const handler = createCopilotRuntimeHandler({ runtime, basePath: "/api/copilotkit" });

export const GET = handler;
export const POST = handler;
